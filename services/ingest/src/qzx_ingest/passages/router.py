from __future__ import annotations

from datetime import datetime, timedelta
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
from qzx_ingest.passages.schemas import Companion, CompanionList, PassageList

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


# Longest span a companion query may cover: each of the target's passages is a window join.
COMPANION_MAX_DAYS = 31


@router.get("/companions", response_model=CompanionList)
async def list_companions(
    principal: Annotated[Principal, require(Action.passages_read)],
    session: Session,
    plate: str,
    since: datetime,
    until: datetime | None = None,
    window_s: Annotated[int, Query(ge=1, le=3600)] = 60,
    min_count: Annotated[int, Query(ge=1, le=1000)] = 2,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> CompanionList:
    """Companion vehicles (伴随车): plates that passed the devices ``plate`` passed, within
    ``window_s`` of it, at least ``min_count`` times between ``since`` and ``until`` (now),
    ranked by that count; only passages inside the caller's jurisdiction count."""
    target = plate_filter(plate)
    assert target is not None
    until = until or datetime.now(since.tzinfo)
    if not timedelta(0) < until - since <= timedelta(days=COMPANION_MAX_DAYS):
        raise InvalidRequest(
            f"since 须早于 until，且相隔不超过 {COMPANION_MAX_DAYS} 天 / since must precede until by at most "
            f"{COMPANION_MAX_DAYS} days",
            code="companion_range_invalid",
        )
    rows = await repository.companions(
        await session.connection(),
        jur=principal.jur,
        plate=target,
        since=since,
        until=until,
        window=timedelta(seconds=window_s),
        min_count=min_count,
        limit=limit,
    )
    return CompanionList(
        plate=target,
        window_s=window_s,
        items=[
            Companion(plate=r["plate"], count=r["times"], devices=r["devices"], first_seen=r["first_seen"],
                      last_seen=r["last_seen"])
            for r in rows
        ],
    )  # fmt: skip
