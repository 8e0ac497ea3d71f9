from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from qzx_alerts.deps import Audit, Session
from qzx_alerts.hotlists import repository, service
from qzx_alerts.hotlists.schemas import HotlistEntry, HotlistIn, HotlistList
from qzx_common.web.auth import Principal
from qzx_common.web.openapi import AUTHENTICATED
from qzx_common.web.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    decode_time_cursor,
    encode_time_cursor,
    fetch_size,
    page,
)
from qzx_common.web.permissions import Action, require

router = APIRouter(prefix="/v1/hotlists", tags=["hotlists"])


@router.get("", response_model=HotlistList, responses=AUTHENTICATED)
async def list_hotlist(
    principal: Annotated[Principal, require(Action.hotlists_read)],
    session: Session,
    plate: str | None = None,
    active: bool = True,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> HotlistList:
    """Entries of the caller's jurisdiction and of the units above it (active ones unless ``active=false``)."""
    after = decode_time_cursor(cursor)
    now = datetime.now(UTC)
    rows = await repository.search(
        session,
        scopes=service.covering_scopes(principal.jur),
        jur=principal.jur,
        plate=plate.strip().upper() if plate else None,
        active_at=now if active else None,
        after=after,
        limit=fetch_size(limit),
    )
    rows, next_cursor = page(rows, limit, lambda r: encode_time_cursor(r.created_at, r.id))
    return HotlistList(items=[service.view(r, principal, now=now) for r in rows], next_cursor=next_cursor)


@router.post("", response_model=HotlistEntry, status_code=201, responses=AUTHENTICATED)
async def put_hotlist_entry(
    body: HotlistIn,
    audit_context: Audit,
    response: Response,
    principal: Annotated[Principal, require(Action.hotlists_write)],
    session: Session,
) -> HotlistEntry:
    """Add a plate (201), or update the entry this source already has for it (200)."""
    row, created = await service.put_entry(
        session, principal=principal, entry=body, audit_context=audit_context
    )
    response.status_code = 201 if created else 200
    return service.view(row, principal)


@router.delete("/{entry_id}", status_code=204, responses=AUTHENTICATED)
async def delete_hotlist_entry(
    entry_id: str,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.hotlists_write)],
    session: Session,
) -> Response:
    await service.delete_entry(session, principal=principal, entry_id=entry_id, audit_context=audit_context)
    return Response(status_code=204)
