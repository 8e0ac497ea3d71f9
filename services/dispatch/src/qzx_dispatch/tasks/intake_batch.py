"""A consumed batch of alerts.v1 in one transaction, a statement per step for the whole batch.

The steps: the alerts upserted (the fresh versions' rows stay locked until commit), the ones that
already have tasks found, the free units of the batch's cities read once and every alert ranked
from memory (``board``), the chosen units claimed, the tasks inserted, announced and audited. An alert
no free unit suits is left pending, with the reason, as ``service.assign_alert`` leaves it (the
deadline watcher retries it through that path). What this path cannot settle goes through
``intake.apply``, the one-alert path, in the same transaction: an alert that may pre-empt a busy
unit (``preempt``) when none is free, a unit another transaction took meanwhile. The outcome of each alert is the one ``intake.intake`` would give."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.contracts.alerts import Alert, is_covert_hit
from qzx_dispatch.settings import DispatchSettings
from qzx_dispatch.tasks import events, preempt, repository, service
from qzx_dispatch.tasks.board import DutyBoard
from qzx_dispatch.tasks.intake import CLOSED, COVERT_REASON, alert_values, apply
from qzx_dispatch.tasks.models import TaskRow
from qzx_dispatch.tasks.recommend import Need, Recommendation, no_unit_reason
from qzx_dispatch.tasks.rules import LOW_PRIORITIES
from qzx_dispatch.tasks.schemas import to_contract
from qzx_dispatch.tasks.service import CANDIDATES, build_need, new_task


@dataclass
class _Sorted:
    """A batch's fresh alert versions by what they need."""

    closing: list[Alert] = field(default_factory=list)
    covert: list[Alert] = field(default_factory=list)
    new: list[Alert] = field(default_factory=list)
    tracked: int = 0


async def intake_batch(
    session: AsyncSession, *, alerts: Sequence[Alert], settings: DispatchSettings, now: datetime
) -> Counter[str]:
    """Apply the alert versions (distinct ids); how many had each outcome."""
    outcomes: Counter[str] = Counter()
    fresh = await repository.upsert_alerts(session, [alert_values(a) for a in alerts])
    outcomes["stale"] = len(alerts) - len(fresh)
    batch = _sort([a for a in alerts if a.id in fresh])
    outcomes["tracked"] = batch.tracked
    outcomes["covert"] = len(batch.covert)
    covert = [(a.id, "handled", COVERT_REASON) for a in batch.covert]
    await repository.set_alert_states(session, covert, keep_reason=False)
    # As ``intake.try_assign``: tasks from before a re-queue (its unit pre-empted) no longer count.
    since = {a.id: max(a.last_seen, fresh[a.id] or a.last_seen) for a in batch.closing + batch.new}
    active, recent = await repository.task_facts(session, since)
    await _cancel_tasks(session, [a for a in batch.closing if a.id in active], settings, now)
    await repository.set_alert_states(
        session, [(a.id, "closed", None) for a in batch.closing], keep_reason=True
    )
    outcomes["closed"] = len(batch.closing)
    handled = [a for a in batch.new if a.id in active or a.id in recent]
    await repository.set_alert_states(session, [(a.id, "handled", None) for a in handled], keep_reason=True)
    outcomes["handled"] = len(handled)
    made, pending, left = await _assign(
        session, [a for a in batch.new if a.id not in active and a.id not in recent], settings, now
    )
    outcomes["assigned"] = len(made)
    outcomes["pending"] = len(pending)
    one_by_one = left
    order = {a.id: i for i, a in enumerate(alerts)}
    for alert in sorted(one_by_one, key=lambda a: order[a.id]):
        outcomes[await apply(session, alert=alert, settings=settings, now=now)] += 1
    return +outcomes


def _sort(alerts: Sequence[Alert]) -> _Sorted:
    out = _Sorted()
    for a in alerts:
        status = a.status.value
        if status in CLOSED:
            out.closing.append(a)
        elif status != "new":
            out.tracked += 1  # dispatched / signed / escalated: states our own tasks drive
        elif is_covert_hit(a):
            out.covert.append(a)
        else:
            out.new.append(a)
    return out


async def _cancel_tasks(
    session: AsyncSession, closing: list[Alert], settings: DispatchSettings, now: datetime
) -> None:
    """The active tasks of alerts dismissed or resolved: cancelled (``service.close``), announced, audited."""
    if not closing:
        return
    status = {a.id: a.status.value for a in closing}
    tasks = await repository.active_for_alerts(session, list(status))
    for task in tasks:
        task.status, task.reason = "cancelled", f"alert {status[task.alert_id]}"
    await events.changed_many(session, tasks, now=now, settings=settings)
    await service.record_system_many(session, actor="system:intake", action="task.cancel", tasks=tasks)


async def _assign(
    session: AsyncSession, alerts: list[Alert], settings: DispatchSettings, now: datetime
) -> tuple[list[TaskRow], list[tuple[str, str]], list[Alert]]:
    """From memory: tasks for the alerts a free unit suits, (alert id, reason) for those none
    suits; and the alerts left to the one-alert path."""
    if not alerts:
        return [], [], []
    needs = [(a, build_need(a, settings=settings)) for a in alerts]
    # The reserve rule counts a city's free units: serialise its decisions as ``service.rank`` does.
    reserve_cities = sorted(
        {c for _, n in needs if n.priority in LOW_PRIORITIES and n.reserve > 0 for c in n.cities}
    )
    for city in reserve_cities:
        await repository.city_lock(session, city)
    board = await DutyBoard.load(
        session,
        cities={c for _, n in needs for c in n.cities},
        now=now,
        since=now - timedelta(hours=settings.workload_window_h),
    )
    planned: list[tuple[Alert, TaskRow]] = []
    left: list[Alert] = []
    pending: list[tuple[str, str]] = []
    preempting: list[tuple[Alert, Need, Recommendation]] = []
    for alert, need in needs:
        rec = board.recommend(need, limit=CANDIDATES)
        if not rec.ranked:
            if preempt.preempts(alert.priority.value, settings):
                preempting.append((alert, need, rec))
            else:  # what ``assign_alert`` concludes: pending, retried by the watcher
                pending.append((alert.id, no_unit_reason(rec)))
            continue
        chosen = rec.ranked[0]
        task = new_task(alert, chosen, need=need, rec=rec, skipped=[], now=now)
        planned.append((alert, task))
        board.take(chosen.candidate, priority=alert.priority.value, task_id=task.id)
    # Pre-emption after the free units are given out, the most urgent first (a P1 never has to
    # displace a P2 this batch plans).
    displacements = []
    for alert, need, rec in sorted(preempting, key=lambda x: x[0].priority.value):
        if (displacement := preempt.plan(board, alert, need, now=now)) is not None:
            displacements.append(displacement)
        else:
            pending.append((alert.id, no_unit_reason(rec)))
    claimed = await repository.claim_units(session, [row.unit_id for _, row in planned])
    for _, row in planned:
        if row.unit_id in claimed:
            row.unit_seq = claimed[row.unit_id]
    inserted = await repository.insert_tasks(session, [row for _, row in planned if row.unit_id in claimed])
    made = [row for _, row in planned if row.id in inserted]
    left += [alert for alert, row in planned if row.id not in inserted]
    contracts = [to_contract(r) for r in made]
    await events.announce_many(session, made, settings=settings, contracts=contracts)
    await service.record_system_many(
        session, actor="system:assign", action="task.assign", tasks=made, contracts=contracts
    )
    await repository.record_attempts(session, [r.alert_id for r in made])
    taken, overruled = await preempt.displace_many(session, displacements, settings=settings, now=now)
    made += taken
    left += overruled
    await repository.record_pending(
        session, pending, retry_at=now + timedelta(seconds=settings.pending_retry_s)
    )
    return made, pending, left
