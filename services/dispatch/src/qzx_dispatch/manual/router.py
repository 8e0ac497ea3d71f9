"""A dispatcher's own dispatch from the ranked recommendations (docs/contract.md, dispatch)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from qzx_common.contracts.escalations import EscalationKind
from qzx_common.web.auth import Principal
from qzx_common.web.openapi import error_responses
from qzx_common.web.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    decode_cursor,
    decode_time_cursor,
    encode_cursor,
    encode_time_cursor,
    fetch_size,
    page,
)
from qzx_common.web.permissions import Action, require
from qzx_dispatch.deps import Audit, ClockDep, Session, SettingsDep
from qzx_dispatch.manual import service
from qzx_dispatch.manual.schemas import (
    DispatchRequest,
    DispatchResult,
    EscalateRequest,
    PendingAlert,
    PendingList,
    Recommendations,
)
from qzx_dispatch.tasks import history, pending
from qzx_dispatch.tasks.schemas import TaskEventPage, event_out, to_contract

router = APIRouter(prefix="/v1/dispatch", tags=["tasks"])


@router.get("/pending", response_model=PendingList)
async def pending_alerts(
    principal: Annotated[Principal, require(Action.tasks_read)],
    session: Session,
    clock: ClockDep,
    priority: Annotated[str | None, Query(pattern="^P[1-4]$")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> PendingList:
    """Alerts waiting for a unit, most urgent first, with why and for how long."""
    after = decode_cursor(cursor, str, datetime, str) if cursor else None
    rows = await pending.waiting(
        session, jur=principal.jur, priority=priority, after=after, limit=fetch_size(limit)
    )
    rows, nxt = page(rows, limit, lambda r: encode_cursor(r[0].priority, r[1].isoformat(), r[0].alert_id))
    now = clock.now()
    return PendingList(
        items=[
            PendingAlert(
                alert_id=row.alert_id,
                priority=row.priority,
                kind=row.kind,
                violations=list(row.violations),
                plate=row.payload.get("plate"),
                admin_code=row.admin_code,
                first_seen=row.first_seen,
                waiting_since=since,
                waited_s=round(max(0.0, (now - since).total_seconds()), 1),
                reason=row.last_reason,
                requeued=row.requeued_at is not None,
                attempts=row.attempts,
                next_try_at=row.next_try_at,
            )
            for row, since in rows
        ],
        next_cursor=nxt,
    )


@router.get("/escalations", response_model=TaskEventPage)
async def escalations(
    principal: Annotated[Principal, require(Action.tasks_read)],
    session: Session,
    kind: EscalationKind | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> TaskEventPage:
    """The escalations raised under the caller's jurisdiction, newest first (what consoles show
    besides ``dispatch.escalations.v1``; poll with ``since``)."""
    rows = await history.search(
        session,
        jur=principal.jur,
        kinds=[kind.value] if kind else [k.value for k in EscalationKind],
        since=since,
        after=decode_time_cursor(cursor),
        limit=fetch_size(limit),
    )
    rows, nxt = page(rows, limit, lambda r: encode_time_cursor(r.at, r.id))
    return TaskEventPage(items=[event_out(r) for r in rows], next_cursor=nxt)


@router.get("/recommendations/{alert_id}", response_model=Recommendations, responses=error_responses(404))
async def recommendations(
    alert_id: str,
    principal: Annotated[Principal, require(Action.tasks_read)],
    session: Session,
    settings: SettingsDep,
    clock: ClockDep,
) -> Recommendations:
    return await service.recommendations(
        session, principal=principal, alert_id=alert_id, settings=settings, now=clock.now()
    )


@router.post("", response_model=DispatchResult, responses=error_responses(404, 409))
async def dispatch(
    body: DispatchRequest,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.tasks_reassign)],
    session: Session,
    settings: SettingsDep,
    clock: ClockDep,
) -> DispatchResult:
    task = await service.dispatch(
        session,
        principal=principal,
        alert_id=body.alert_id,
        unit_id=body.unit_id,
        reason=body.reason,
        settings=settings,
        now=clock.now(),
        audit_context=audit_context,
    )
    return DispatchResult(task=to_contract(task))


@router.post("/escalate", response_model=DispatchResult, responses=error_responses(404, 409))
async def escalate(
    body: EscalateRequest,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.tasks_reassign)],
    session: Session,
    settings: SettingsDep,
    clock: ClockDep,
) -> DispatchResult:
    task = await service.escalate(
        session,
        principal=principal,
        task_id=body.task_id,
        reason=body.reason,
        settings=settings,
        now=clock.now(),
        audit_context=audit_context,
    )
    return DispatchResult(task=to_contract(task))
