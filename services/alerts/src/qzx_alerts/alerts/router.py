from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from qzx_alerts.alerts import repository, service
from qzx_alerts.alerts.schemas import AlertDetail, AlertList, DismissIn, alert_payload
from qzx_alerts.alerts.stream import event_stream, start_position
from qzx_alerts.deps import Audit, ChangeTailDep, Connection, RuntimeDep, SettingsDep, SseStreams
from qzx_common.contracts.alerts import AlertStatus, Priority
from qzx_common.contracts.events import Violation
from qzx_common.db import driver_connection
from qzx_common.jurisdiction import ADMIN_PREFIX_PATTERN
from qzx_common.web.auth import Principal, out_of_jurisdiction
from qzx_common.web.errors import InvalidRequest
from qzx_common.web.openapi import AUTHENTICATED, error_responses
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

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])

AdminCode = Annotated[str | None, Query(pattern=ADMIN_PREFIX_PATTERN)]
EVENT_ID_MAX = 2**63 - 1  # change-log ids are bigint
_EVENT_ID = re.compile(r"[0-9]{1,19}")  # ASCII digits only: str.isdigit() also takes '²'


def _event_id(header: str) -> int:
    """A ``Last-Event-ID`` this stream sent (a change-log id); 422 for anything else."""
    if not _EVENT_ID.fullmatch(header) or int(header) > EVENT_ID_MAX:
        raise InvalidRequest("Last-Event-ID: not an id this stream sent", code="invalid_last_event_id")
    return int(header)


def scope(principal: Principal, admin_code: str | None) -> str:
    """The admin-code prefix to read: the caller's jurisdiction, narrowed by the filter if given."""
    if admin_code is None or admin_code.startswith(principal.jur):
        return admin_code or principal.jur
    if principal.jur.startswith(admin_code):
        return principal.jur
    raise out_of_jurisdiction(admin_code, principal)


@router.get("", response_model=AlertList, responses=AUTHENTICATED)
async def list_alerts(
    principal: Annotated[Principal, require(Action.alerts_read)],
    conn: Connection,
    status: AlertStatus | None = None,
    priority: Priority | None = None,
    violation: Violation | None = None,
    admin_code: AdminCode = None,
    kind: Annotated[
        str | None, Query(pattern=r"^(violation|plate_fraud|racing_group|hotlist_hit|accident)$")
    ] = None,
    plate: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> AlertList:
    """Most recently active first (``last_seen``), keyset-paginated."""
    plate = plate_filter(plate)
    after = decode_time_cursor(cursor)
    rows = await repository.search(
        await driver_connection(conn),
        prefix=scope(principal, admin_code),
        status=status.value if status else None,
        priority=priority.value if priority else None,
        violation=violation.value if violation else None,
        kind=kind,
        plate=plate,
        after=after,
        limit=fetch_size(limit),
        covert_hits=principal.is_commander,
    )
    rows, next_cursor = page(rows, limit, lambda r: encode_time_cursor(r["last_seen"], r["id"]))
    return AlertList.model_validate({"items": [alert_payload(r) for r in rows], "next_cursor": next_cursor})


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "event `alert`"}, **AUTHENTICATED},
)
async def stream_alerts(
    request: Request,
    principal: Annotated[Principal, require(Action.alerts_read)],
    rt: RuntimeDep,
    settings: SettingsDep,
    tail: ChangeTailDep,
    streams: SseStreams,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    since: Annotated[
        int | None,
        Query(ge=0, le=EVENT_ID_MAX, description="resume after this event id (EventSource fallback)"),
    ] = None,
) -> StreamingResponse:
    """Server-sent events, event ``alert``, data an Alert; resumes after ``Last-Event-ID``."""
    resume = since if last_event_id is None else _event_id(last_event_id)
    slot = streams.acquire()  # 503 over_capacity with Retry-After when the process holds its cap
    try:
        after = await start_position(rt.engine, resume)
    except BaseException:
        slot.release()
        raise
    body = event_stream(
        tail=tail,
        jur=principal.jur,
        commander=principal.is_commander,
        after=after,
        heartbeat_s=settings.sse_heartbeat_s,
        disconnected=request.is_disconnected,
    )
    return StreamingResponse(
        slot.guard(body),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        background=BackgroundTask(slot.release),  # also when the stream never started
    )


@router.get("/{alert_id}", response_model=AlertDetail, responses=AUTHENTICATED)
async def get_alert(
    alert_id: str, principal: Annotated[Principal, require(Action.alerts_read)], conn: Connection
) -> AlertDetail:
    """The alert with its explaining factors and the events it links."""
    return AlertDetail.model_validate(
        await service.alert_detail(conn, principal=principal, alert_id=alert_id)
    )


@router.post("/{alert_id}/dismiss", response_model=AlertDetail, responses=error_responses(409))
async def dismiss_alert(
    alert_id: str,
    body: DismissIn,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.alerts_dismiss)],
    conn: Connection,
) -> AlertDetail:
    await service.dismiss(
        conn,
        principal=principal,
        alert_id=alert_id,
        reason=body.reason,
        audit_context=audit_context,
    )
    return AlertDetail.model_validate(
        await service.alert_detail(conn, principal=principal, alert_id=alert_id)
    )
