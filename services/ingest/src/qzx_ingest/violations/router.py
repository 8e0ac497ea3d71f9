from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from qzx_common.contracts.events import Violation
from qzx_common.web.auth import Principal
from qzx_common.web.errors import NotFound
from qzx_common.web.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    decode_time_cursor,
    encode_time_cursor,
    fetch_size,
    page,
    plate_filter,
)
from qzx_common.web.permissions import Action, require
from qzx_ingest.deps import Session
from qzx_ingest.violations import repository
from qzx_ingest.violations.schemas import ViolationList

router = APIRouter(prefix="/v1/violations", tags=["violations"])


@router.get("", response_model=ViolationList)
async def list_violations(
    principal: Annotated[Principal, require(Action.violations_read)],
    session: Session,
    plate: str | None = None,
    violation: Violation | None = None,
    admin_code: Annotated[str | None, Query(pattern=r"^\d{2,6}$")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> ViolationList:
    plate = plate_filter(plate)
    after = decode_time_cursor(cursor)
    rows = await repository.search(
        session,
        jur=principal.jur,
        plate=plate,
        violation=violation.value if violation else None,
        admin_code=admin_code,
        since=since,
        until=until,
        after=after,
        limit=fetch_size(limit),
    )
    rows, next_cursor = page(rows, limit, lambda r: encode_time_cursor(r.captured_at, r.event_id))
    return ViolationList(items=[repository.payload_of(r) for r in rows], next_cursor=next_cursor)


@router.get("/{event_id}")
async def get_violation(
    event_id: str, principal: Annotated[Principal, require(Action.violations_read)], session: Session
) -> dict[str, object]:
    row = await repository.get(session, event_id)
    if row is None or not principal.sees(row.admin_code):
        # Out-of-jurisdiction reads look like absent ones: no existence oracle.
        raise NotFound(f"no violation with event_id {event_id!r}", code="violation_not_found")
    return repository.payload_of(row)
