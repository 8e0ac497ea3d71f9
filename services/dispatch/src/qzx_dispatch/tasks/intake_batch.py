"""A consumed batch of alerts.v1 in one transaction, a statement per step for the whole batch.

The steps: the alerts upserted (the fresh versions' rows stay locked until commit), the ones that
already have tasks found, the free units of the batch's cities read once and every alert ranked
from memory (``board``), the chosen units claimed, the tasks inserted, announced and audited. What
this path cannot settle goes through ``intake.apply``, the one-alert path, in the same transaction:
closing an alert whose task is active, an alert no free unit in memory suits (the one-alert path
decides pending, reserve and whatever else applies when nobody is free), a unit another
transaction took meanwhile. The outcome of each alert is the one ``intake.intake`` would give."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.audit import AuditContext, AuditEntry, record_many
from qzx_common.contracts.alerts import Alert, is_covert_hit
from qzx_dispatch.db import SCHEMA
from qzx_dispatch.org.service import audit_scope
from qzx_dispatch.settings import DispatchSettings
from qzx_dispatch.tasks import events, repository
from qzx_dispatch.tasks.board import DutyBoard
from qzx_dispatch.tasks.intake import CLOSED, COVERT_REASON, alert_values, apply
from qzx_dispatch.tasks.models import TaskRow
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
    active, recent = await repository.task_facts(
        session, {a.id: a.last_seen for a in batch.closing + batch.new}
    )
    one_by_one = [a for a in batch.closing if a.id in active]
    done = [a for a in batch.closing if a.id not in active]
    await repository.set_alert_states(session, [(a.id, "closed", None) for a in done], keep_reason=True)
    outcomes["closed"] = len(done)
    handled = [a for a in batch.new if a.id in active or a.id in recent]
    await repository.set_alert_states(session, [(a.id, "handled", None) for a in handled], keep_reason=True)
    outcomes["handled"] = len(handled)
    made, left = await _assign(
        session, [a for a in batch.new if a.id not in active and a.id not in recent], settings, now
    )
    outcomes["assigned"] = len(made)
    one_by_one += left
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


async def _assign(
    session: AsyncSession, alerts: list[Alert], settings: DispatchSettings, now: datetime
) -> tuple[list[TaskRow], list[Alert]]:
    """Tasks for the alerts a free unit suits, from memory; the alerts left to the one-alert path."""
    if not alerts:
        return [], []
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
    for alert, need in needs:
        rec = board.recommend(need, limit=CANDIDATES)
        if not rec.ranked:
            left.append(alert)
            continue
        chosen = rec.ranked[0]
        planned.append((alert, new_task(alert, chosen, need=need, rec=rec, skipped=[], now=now)))
        board.take(chosen.candidate)
    claimed = await repository.claim_units(session, [row.unit_id for _, row in planned])
    for _, row in planned:
        if row.unit_id in claimed:
            row.unit_seq = claimed[row.unit_id]
    inserted = await repository.insert_tasks(session, [row for _, row in planned if row.unit_id in claimed])
    made = [row for _, row in planned if row.id in inserted]
    left += [alert for alert, row in planned if row.id not in inserted]
    await events.announce_many(session, made, settings=settings)
    await record_many(
        session,
        schema=SCHEMA,
        context=AuditContext.system("system:assign"),
        entries=[
            AuditEntry(
                "task.assign", "task", r.id, after=to_contract(r), admin_code=audit_scope(r.target_admin_code)
            )
            for r in made
        ],
    )
    await repository.record_attempts(session, [r.alert_id for r in made])
    return made, left
