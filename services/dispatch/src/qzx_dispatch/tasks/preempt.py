"""Pre-emption: a P1 (and a P2 when ``preempt_p2``) that no free unit can take takes the best unit
holding a lower-priority task. The displaced task is cancelled with the reason, its alert goes
back to the pending queue (retried at once), and both tasks carry a task event naming the other.

A task on scene is never displaced (its officers are dealing with a vehicle); neither is a task
of the same or a higher priority."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.contracts.alerts import Alert
from qzx_dispatch.settings import DispatchSettings
from qzx_dispatch.tasks import history, repository, service
from qzx_dispatch.tasks.models import TaskRow
from qzx_dispatch.tasks.recommend import recommend

DISPLACEABLE = ("assigned", "signed", "en_route")


def preempts(priority: str, settings: DispatchSettings) -> bool:
    return settings.preempt and (priority == "P1" or (priority == "P2" and settings.preempt_p2))


async def _holders(session: AsyncSession, *, unit_ids: list[str], below: str) -> dict[str, TaskRow]:
    """The displaceable task each unit holds, when its priority is below ``below`` (P4 < P1)."""
    q = select(TaskRow).where(
        TaskRow.unit_id.in_(unit_ids), TaskRow.status.in_(DISPLACEABLE), TaskRow.priority > below
    )
    return {t.unit_id: t for t in (await session.scalars(q)).all()}


async def take_busy_unit(
    session: AsyncSession, *, alert: Alert, settings: DispatchSettings, now: datetime
) -> service.Assignment | None:
    """Assign ``alert`` to the best unit holding a lower-priority task (None: none may be taken)."""
    if not preempts(alert.priority.value, settings):
        return None
    need = service.build_need(alert, settings=settings)
    on_duty = await repository.on_duty(session, cities=sorted(need.cities), now=now)
    busy = [c for c in on_duty if c.busy]
    holders = await _holders(session, unit_ids=[c.unit_id for c in busy], below=alert.priority.value)
    # Ranked as if free (every other rule applies); the lowest displaced priority breaks ties.
    rec = recommend([replace(c, busy=False) for c in busy if c.unit_id in holders], need, free=Counter())
    order = sorted(rec.ranked, key=lambda r: (r.key()[:2], -int(holders[r.unit_id].priority[1]), r.key()[2:]))
    for ranked in order[: service.MAX_TRIES]:
        displaced = await repository.get_task(session, holders[ranked.unit_id].id, lock=True)
        if (
            displaced is None
            or displaced.status not in DISPLACEABLE
            or displaced.priority <= alert.priority.value
        ):
            continue  # changed since it was read
        result = await _displace(session, alert=alert, displaced=displaced, settings=settings, now=now)
        if result is not None:
            return result
    return None


class _Kept(Exception):
    """The unit could not take the alert after all: the savepoint is rolled back."""


async def _displace(
    session: AsyncSession, *, alert: Alert, displaced: TaskRow, settings: DispatchSettings, now: datetime
) -> service.Assignment | None:
    unit_id = displaced.unit_id
    reason = f"pre-empted by {alert.priority.value} alert {alert.id}"
    try:
        async with session.begin_nested():
            await service.close(
                session, displaced, status="cancelled", reason=reason, now=now, settings=settings
            )
            result = await service.assign_alert(
                session, alert=alert, settings=settings, now=now, only_unit=unit_id
            )
            if result.task is None:
                raise _Kept()
    except _Kept:
        await session.refresh(displaced)
        return None
    task = result.task
    await requeue(session, displaced=displaced, reason=reason, now=now)
    await history.add(
        session,
        kind="preempted",
        task_id=displaced.id,
        alert_id=displaced.alert_id,
        priority=displaced.priority,
        reason=reason,
        admin_code=displaced.target_admin_code,
        now=now,
        detail={
            "by_task_id": task.id,
            "by_alert_id": alert.id,
            "by_priority": alert.priority.value,
            "unit_id": unit_id,
        },
    )
    await history.add(
        session,
        kind="preempting",
        task_id=task.id,
        alert_id=alert.id,
        priority=alert.priority.value,
        reason=f"took unit {unit_id} from {displaced.priority} task {displaced.id}",
        admin_code=task.target_admin_code,
        now=now,
        detail={
            "displaced_task_id": displaced.id,
            "displaced_alert_id": displaced.alert_id,
            "displaced_priority": displaced.priority,
            "unit_id": unit_id,
        },
    )
    await service.record_system(session, actor="system:preempt", action="task.preempt", task=displaced)
    return result


async def requeue(session: AsyncSession, *, displaced: TaskRow, reason: str, now: datetime) -> None:
    """The displaced task's alert back in the pending queue, due now: the stored version reads
    ``new`` again (dispatch's own view; alerts publishes its next version when it learns of the
    cancelled task) and the tasks before ``requeued_at`` no longer count as handling it."""
    row = await repository.get_alert(session, displaced.alert_id, lock=True)
    if row is None:
        return
    row.state, row.last_reason, row.next_try_at, row.requeued_at = "pending", reason, now, now
    row.payload = {**row.payload, "status": "new", "task_id": None}
    await history.add(
        session,
        kind="requeued",
        task_id=None,
        alert_id=displaced.alert_id,
        priority=displaced.priority,
        reason=reason,
        admin_code=displaced.target_admin_code,
        now=now,
        detail={"displaced_task_id": displaced.id, "unit_id": displaced.unit_id},
    )
