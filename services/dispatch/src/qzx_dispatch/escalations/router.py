"""``GET /v1/dispatch/escalations/stream``: the escalations under the caller's jurisdiction as
Server-Sent Events (docs/contract.md, dispatch; decision 0019)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from qzx_common.web.auth import Principal
from qzx_common.web.errors import InvalidRequest
from qzx_common.web.pagination import decode_time_cursor
from qzx_common.web.permissions import Action, require
from qzx_dispatch.deps import ClockDep, RuntimeDep, state
from qzx_dispatch.escalations import stream

router = APIRouter(prefix="/v1/dispatch", tags=["tasks"])


def _resumed_at(header: str) -> datetime:
    """The stamp of a ``Last-Event-ID`` this stream sent; 422 for anything else."""
    try:
        position = decode_time_cursor(header)
    except Exception as exc:
        raise InvalidRequest(
            "Last-Event-ID: not an id this stream sent", code="invalid_last_event_id"
        ) from exc
    if position is None:
        raise InvalidRequest("Last-Event-ID: not an id this stream sent", code="invalid_last_event_id")
    return position[0]


@router.get("/escalations/stream")
async def escalation_stream(
    request: Request,
    principal: Annotated[Principal, require(Action.tasks_read)],
    rt: RuntimeDep,
    clock: ClockDep,
    since: datetime | None = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Event ``escalation``, data an Escalation: those stamped ``since`` or later (else from now),
    then each one raised; after ``Last-Event-ID``, from a minute before it (repeats carry the same
    escalation id, which a client drops)."""
    resumed = None if last_event_id is None else _resumed_at(last_event_id) - stream.OVERLAP
    floor = resumed or since or clock.now()
    service = state(request)
    slot = service.long_polls.acquire()  # 503 over_capacity with Retry-After past the process's cap
    body = stream.events(rt.sessions, service.escalation_notifier, jur=principal.jur, floor=floor)
    return StreamingResponse(
        slot.guard(body),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        background=BackgroundTask(slot.release),  # also when the stream never started
    )
