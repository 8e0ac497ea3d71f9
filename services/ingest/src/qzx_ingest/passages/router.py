from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from qzx_common.contracts.events import DeviceId
from qzx_common.web.auth import Principal
from qzx_common.web.errors import InvalidRequest
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
from qzx_ingest.passages import repository
from qzx_ingest.passages.schemas import PassageList

router = APIRouter(prefix="/v1/passages", tags=["passages"])


@router.get("", response_model=PassageList)
async def list_passages(
    principal: Annotated[Principal, require(Action.passages_read)],
    session: Session,
    plate: str | None = None,
    device_id: Annotated[DeviceId | None, Query()] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> PassageList:
    """A plate's trajectory (``plate=``) or what passed a device (``device_id=``), newest first,
    inside the caller's jurisdiction."""
    if (plate is None) == (device_id is None):
        raise InvalidRequest("give exactly one of plate and device_id", code="passage_filter_required")
    rows = await repository.search(
        session,
        jur=principal.jur,
        plate=plate_filter(plate),
        device_id=device_id,
        since=since,
        until=until,
        after=decode_time_cursor(cursor),
        limit=fetch_size(limit),
    )
    rows, next_cursor = page(rows, limit, lambda r: encode_time_cursor(r.captured_at, r.passage_id))
    return PassageList(items=[repository.payload_of(r) for r in rows], next_cursor=next_cursor)
