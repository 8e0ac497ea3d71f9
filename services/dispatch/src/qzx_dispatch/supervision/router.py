"""Supervision lists (auditors and commanders, within their jurisdiction)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from qzx_common.web.auth import Principal
from qzx_common.web.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    decode_time_cursor,
    encode_time_cursor,
    fetch_size,
    page,
)
from qzx_common.web.permissions import Action, require
from qzx_dispatch.deps import Session
from qzx_dispatch.supervision import repository
from qzx_dispatch.supervision.schemas import CredentialEventList, event_out

router = APIRouter(prefix="/v1/supervision", tags=["supervision"])


@router.get("/credential-events", response_model=CredentialEventList)
async def credential_events(
    principal: Annotated[Principal, require(Action.supervision_read)],
    session: Session,
    kind: Literal["two_devices", "off_roster"] | None = None,
    officer_id: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> CredentialEventList:
    """Newest first: each time a patrol credential was used from a second device at once, or by a
    person on no crew of the token's unit."""
    rows = await repository.search(
        session,
        jur=principal.jur,
        kind=kind,
        officer_id=officer_id,
        since=since,
        after=decode_time_cursor(cursor),
        limit=fetch_size(limit),
    )
    rows, nxt = page(rows, limit, lambda r: encode_time_cursor(r.at, r.id))
    return CredentialEventList(items=[event_out(r) for r in rows], next_cursor=nxt)
