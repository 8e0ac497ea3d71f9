"""A dispatcher's own dispatch: the ranked recommendations for an alert (with their reasons) and
a task for the unit the dispatcher picks among them, with the dispatcher's reason, in the audit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.audit import AuditContext, record
from qzx_common.contracts.alerts import Alert
from qzx_common.web.auth import Principal
from qzx_common.web.errors import Conflict, InvalidRequest, NotFound
from qzx_dispatch.db import SCHEMA
from qzx_dispatch.manual.schemas import Recommendations
from qzx_dispatch.org.models import Unit
from qzx_dispatch.org.service import audit_scope
from qzx_dispatch.settings import DispatchSettings
from qzx_dispatch.tasks import events, repository
from qzx_dispatch.tasks.models import AlertRecord, TaskRow
from qzx_dispatch.tasks.recommend import RUNNERS_UP, describe, no_unit_reason
from qzx_dispatch.tasks.schemas import to_contract
from qzx_dispatch.tasks.service import assign_alert, build_need, rank

SHOWN = 10  # recommendations listed


async def _alert(session: AsyncSession, principal: Principal, alert_id: str, *, lock: bool) -> AlertRecord:
    row = await repository.get_alert(session, alert_id, lock=lock)
    if row is None or not principal.sees(row.admin_code):
        raise NotFound(f"no alert {alert_id!r} known to dispatch", code="alert_not_found")
    return row


async def recommendations(
    session: AsyncSession, *, principal: Principal, alert_id: str, settings: DispatchSettings, now: datetime
) -> Recommendations:
    row = await _alert(session, principal, alert_id, lock=False)
    need = build_need(Alert.model_validate(row.payload), settings=settings, unit_scope=principal.jur)
    rec = await rank(session, need=need, now=now, settings=settings)
    active = await repository.active_for_alert(session, alert_id)
    return Recommendations(
        alert_id=alert_id,
        state=row.state,
        waiting_reason=row.last_reason if row.state == "pending" else None,
        active_task_id=active.id if active else None,
        needs=sorted(need.capabilities),
        enforcement=need.enforcement,
        ranked=[describe(r) for r in rec.ranked[:SHOWN]],
        reserved=[describe(r) | {"why": why} for r, why in rec.reserved[:RUNNERS_UP]],
        excluded=dict(rec.excluded),
        no_unit_reason=None if rec.ranked else no_unit_reason(rec),
    )


async def dispatch(
    session: AsyncSession,
    *,
    principal: Principal,
    alert_id: str,
    unit_id: str,
    reason: str,
    settings: DispatchSettings,
    now: datetime,
    audit_context: AuditContext,
) -> TaskRow:
    row = await _alert(session, principal, alert_id, lock=True)
    if row.state == "closed":
        raise Conflict(f"alert {alert_id} is closed", code="alert_closed")
    if (active := await repository.active_for_alert(session, alert_id)) is not None:
        raise Conflict(f"alert {alert_id} already has task {active.id}; reassign it", code="alert_has_task")
    unit = await session.get(Unit, unit_id)
    if unit is None or not principal.sees(unit.admin_code):
        raise InvalidRequest(f"unit_id: no unit {unit_id!r}", code="unknown_unit")
    result = await assign_alert(
        session,
        alert=Alert.model_validate(row.payload),
        settings=settings,
        now=now,
        only_unit=unit_id,
        unit_scope=principal.jur,
    )
    if result.task is None:
        raise Conflict(f"unit {unit_id} cannot take the alert: {result.reason}", code="no_unit")
    task = result.task
    task.reason = f"{reason} (by {principal.sub})"
    row.state, row.last_reason, row.next_try_at = "handled", None, None
    await record(
        session,
        schema=SCHEMA,
        context=audit_context,
        action="task.dispatch",
        target_type="task",
        target_id=task.id,
        admin_code=audit_scope(task.target_admin_code),
        after=to_contract(task),
    )
    return task


async def escalate(
    session: AsyncSession,
    *,
    principal: Principal,
    task_id: str,
    reason: str,
    settings: DispatchSettings,
    now: datetime,
    audit_context: AuditContext,
) -> TaskRow:
    """A dispatcher raises an active task to the commanders' attention (the task's and its
    alert's escalated state), with the reason."""
    task = await repository.get_task(session, task_id, lock=True)
    if task is None or not principal.sees(task.target_admin_code):
        raise NotFound(f"no task {task_id!r}", code="task_not_found")
    if task.status not in repository.ACTIVE:
        raise Conflict(f"task {task_id} is {task.status}", code="task_closed")
    if task.escalated:
        raise Conflict(f"task {task_id} is already escalated", code="already_escalated")
    before = to_contract(task)
    task.escalated, task.reason = True, f"{reason} (by {principal.sub})"
    await events.changed(session, task, now=now, settings=settings)
    await record(
        session,
        schema=SCHEMA,
        context=audit_context,
        action="task.escalate",
        target_type="task",
        target_id=task.id,
        admin_code=audit_scope(task.target_admin_code),
        before=before,
        after=to_contract(task),
    )
    return task
