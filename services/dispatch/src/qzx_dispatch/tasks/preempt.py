"""Pre-emption: a P1 (and a P2 when ``preempt_p2``) that no free unit can take takes the best unit
holding a lower-priority task. The displaced task is cancelled with the reason, its alert goes
back to the pending queue (retried at once), and both tasks carry a task event naming the other.

A task on scene is never displaced (its officers are dealing with a vehicle); neither is a task
of the same or a higher priority."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.contracts.alerts import Alert
from qzx_dispatch.settings import DispatchSettings
from qzx_dispatch.tasks import events, history, pending, repository, service
from qzx_dispatch.tasks.board import DutyBoard
from qzx_dispatch.tasks.models import TaskEvent, TaskRow
from qzx_dispatch.tasks.recommend import Candidate, Need, Ranked, recommend
from qzx_dispatch.tasks.schemas import to_contract

DISPLACEABLE = ("assigned", "signed", "en_route")


def preempts(priority: str, settings: DispatchSettings) -> bool:
    return settings.preempt and (priority == "P1" or (priority == "P2" and settings.preempt_p2))


def rank_holders(busy: Sequence[Candidate], held: dict[str, str], need: Need) -> list[Ranked]:
    """The units holding a task of the priority ``held`` names, best to take first: ranked as if
    free (every other rule applies; workload aside, each holds a task), the lowest displaced
    priority breaking ties."""
    rec = recommend([replace(c, busy=False, workload=0) for c in busy], need, free=Counter())
    return sorted(rec.ranked, key=lambda r: (r.key()[:2], -int(held[r.unit_id][1]), r.key()[2:]))


def reason_for(alert: Alert) -> str:
    return f"pre-empted by {alert.priority.value} alert {alert.id}"


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
    held = {c.unit_id: holders[c.unit_id].priority for c in busy if c.unit_id in holders}
    order = rank_holders([c for c in busy if c.unit_id in holders], held, need)
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
    reason = reason_for(alert)
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
    await requeue(session, displaced=displaced, reason=reason, now=now)
    await history.add_many(
        session, displacement_events(alert, displaced, result.task, reason=reason, now=now)
    )
    await service.record_system(session, actor="system:preempt", action="task.preempt", task=displaced)
    return result


def displacement_events(
    alert: Alert, displaced: TaskRow, task: TaskRow, *, reason: str, now: datetime
) -> list[TaskEvent]:
    """What the task history keeps of a pre-emption: the displaced task's alert re-queued, the
    displaced task and the task that took its unit, each naming the other."""
    unit_id = displaced.unit_id
    return [
        history.event(
            kind="requeued",
            task_id=None,
            alert_id=displaced.alert_id,
            priority=displaced.priority,
            reason=reason,
            admin_code=displaced.target_admin_code,
            now=now,
            detail={"displaced_task_id": displaced.id, "unit_id": unit_id},
        ),
        history.event(
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
        ),
        history.event(
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
        ),
    ]


async def requeue(session: AsyncSession, *, displaced: TaskRow, reason: str, now: datetime) -> None:
    """The displaced task's alert back in the pending queue, due now: the stored version reads
    ``new`` again (dispatch's own view; alerts publishes its next version when it learns of the
    cancelled task) and the tasks before ``requeued_at`` no longer count as handling it
    (``repository.requeue_alerts`` for many)."""
    row = await repository.get_alert(session, displaced.alert_id, lock=True)
    if row is None:
        return
    row.state, row.last_reason, row.next_try_at, row.requeued_at = "pending", reason, now, now
    row.payload = {**row.payload, "status": "new", "task_id": None}


@dataclass
class Displacement:
    """A pre-emption planned from the duty board: ``task`` (not yet stored) takes the unit of the
    task ``displaced_id``."""

    alert: Alert
    task: TaskRow
    displaced_id: str
    unit_city: str


def plan(board: DutyBoard, alert: Alert, need: Need, *, now: datetime) -> Displacement | None:
    """``take_busy_unit`` from memory: the best unit holding a lower-priority task, released and
    ranked again as ``assign_alert`` ranks it once free (the new task's reasons); None when no
    holder suits. The board then shows the unit holding the new task."""
    holders = board.holders(need, statuses=DISPLACEABLE)
    held = {c.unit_id: h for c, h in holders}
    order = rank_holders([c for c, _ in holders], {u: h.priority for u, h in held.items()}, need)
    if not order:
        return None
    unit = order[0].candidate
    taken = held[unit.unit_id]
    board.release(unit)
    rec = board.recommend(need, limit=service.CANDIDATES)
    chosen = next((r for r in rec.ranked if r.unit_id == unit.unit_id), None)
    if chosen is None:  # not what the rules would give it once free after all: left as it is
        board.take(unit, priority=taken.priority, task_id=taken.task_id)
        return None
    task = service.new_task(alert, chosen, need=need, rec=rec, skipped=[], now=now)
    board.take(unit, priority=alert.priority.value, task_id=task.id)
    return Displacement(alert, task, taken.task_id, unit.city_code)


async def displace_many(
    session: AsyncSession, plans: Sequence[Displacement], *, settings: DispatchSettings, now: datetime
) -> tuple[list[TaskRow], list[Alert]]:
    """Carry out the planned pre-emptions, a statement per step: the displaced tasks locked and
    checked again (still displaceable, of a lower priority, their unit available), cancelled, their
    alerts re-queued; the new tasks claimed, inserted, announced; the history and audit written.
    Returns the new tasks, and the alerts whose plan the database overruled (for the one-alert path)."""
    if not plans:
        return [], []
    locked = await repository.lock_displaceable(session, [p.displaced_id for p in plans], DISPLACEABLE)
    ok = [p for p in plans if (t := locked.get(p.displaced_id)) and t.priority > p.alert.priority.value]
    overruled = [p.alert for p in plans if p not in ok]
    displaced = [locked[p.displaced_id] for p in ok]
    reasons = [reason_for(p.alert) for p in ok]
    for task, why in zip(displaced, reasons, strict=True):
        task.status, task.reason = "cancelled", why
    await events.changed_many(session, displaced, now=now, settings=settings)
    for city in sorted({p.unit_city for p in ok}):  # ``service.unit_freed`` for each unit
        await pending.retry_now(session, city_code=city, now=now)
    made = [p.task for p in ok]
    claimed = await repository.claim_units(session, [t.unit_id for t in made])
    for task in made:
        task.unit_seq = claimed[task.unit_id]  # ours: the unit was locked with its cancelled task
    inserted = await repository.insert_tasks(session, made)
    assert inserted == {t.id for t in made}, "a unit or alert this transaction holds took another task"
    contracts = [to_contract(t) for t in made]
    await events.announce_many(session, made, settings=settings, contracts=contracts)
    await repository.requeue_alerts(
        session, [(t.alert_id, why) for t, why in zip(displaced, reasons, strict=True)], now=now
    )
    await history.add_many(
        session,
        [
            e
            for p, old, why in zip(ok, displaced, reasons, strict=True)
            for e in displacement_events(p.alert, old, p.task, reason=why, now=now)
        ],
    )
    await service.record_system_many(session, actor="system:preempt", action="task.preempt", tasks=displaced)
    await service.record_system_many(
        session, actor="system:assign", action="task.assign", tasks=made, contracts=contracts
    )
    await repository.record_attempts(session, [t.alert_id for t in made])
    return made, overruled
