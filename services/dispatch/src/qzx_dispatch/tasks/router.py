from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from qzx_common.contracts.tasks import TaskStatus
from qzx_common.web.auth import Principal
from qzx_common.web.errors import NotFound
from qzx_common.web.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    decode_time_cursor,
    encode_time_cursor,
    fetch_size,
    page,
)
from qzx_common.web.permissions import Action, require
from qzx_dispatch.deps import Audit, ClockDep, Session, SettingsDep
from qzx_dispatch.tasks import history, repository, service
from qzx_dispatch.tasks.schemas import (
    ReassignRequest,
    ReassignResult,
    TaskDetail,
    TaskEventList,
    TaskList,
    event_out,
    to_contract,
    to_detail,
)

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])


@router.get("", response_model=TaskList)
async def list_tasks(
    principal: Annotated[Principal, require(Action.tasks_read)],
    session: Session,
    status: Annotated[list[TaskStatus] | None, Query()] = None,
    unit_id: str | None = None,
    alert_id: str | None = None,
    priority: Annotated[str | None, Query(pattern="^P[1-4]$")] = None,
    admin_code: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None,
    escalated: bool | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> TaskList:
    after = decode_time_cursor(cursor)
    rows = await repository.search(
        session,
        jur=principal.jur,
        status=[s.value for s in status] if status else None,
        unit_id=unit_id,
        alert_id=alert_id,
        priority=priority,
        admin_code=admin_code,
        escalated=escalated,
        since=since,
        after=after,
        limit=fetch_size(limit),
    )
    rows, nxt = page(rows, limit, lambda r: encode_time_cursor(r.created_at, r.id))
    return TaskList(items=[to_contract(r) for r in rows], next_cursor=nxt)


@router.get("/{task_id}", response_model=TaskDetail)
async def get_task(
    task_id: str, principal: Annotated[Principal, require(Action.tasks_read)], session: Session
) -> TaskDetail:
    row = await repository.get_task(session, task_id)
    if row is None or not service.sees_task(principal, row):
        raise NotFound(f"no task {task_id!r}", code="task_not_found")
    return to_detail(row)


@router.get("/{task_id}/events", response_model=TaskEventList)
async def task_events(
    task_id: str, principal: Annotated[Principal, require(Action.tasks_read)], session: Session
) -> TaskEventList:
    """The task's history besides its own changes (pre-emptions, its alert re-queued, escalations)."""
    row = await repository.get_task(session, task_id)
    if row is None or not service.sees_task(principal, row):
        raise NotFound(f"no task {task_id!r}", code="task_not_found")
    events = await history.of_task(session, task_id=row.id, alert_id=row.alert_id)
    return TaskEventList(items=[event_out(e) for e in events])


@router.post("/{task_id}/reassign", response_model=ReassignResult)
async def reassign_task(
    task_id: str,
    body: ReassignRequest,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.tasks_reassign)],
    session: Session,
    settings: SettingsDep,
    clock: ClockDep,
) -> ReassignResult:
    old, new = await service.manual_reassign(
        session,
        principal=principal,
        task_id=task_id,
        reason=body.reason,
        unit_id=body.unit_id,
        settings=settings,
        now=clock.now(),
        audit_context=audit_context,
    )
    return ReassignResult(previous=to_contract(old), task=to_contract(new))
