"""Assignment against the real database: the rules end to end, idempotency, the no-double-
assignment guarantee under concurrent assigners, cancellation and pending retries."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from qzx_common.db import transaction
from qzx_dispatch.tasks.models import TaskRow
from qzx_dispatch.tasks.service import assign_alert

from .conftest import OffsetClock, Org, assign, bump, make_alert

pytestmark = [pytest.mark.db]


async def tasks_of(app: Any, alert_id: str) -> list[TaskRow]:
    async with app.state.runtime.sessions() as s:
        q = select(TaskRow).where(TaskRow.alert_id == alert_id).order_by(TaskRow.created_at)
        return list((await s.scalars(q)).all())


async def test_drunk_driving_goes_to_the_nearest_unit_with_a_breathalyser_and_a_sworn_officer(
    fresh: Any, org: Org, clock: OffsetClock
) -> None:
    near_no_kit = await org.unit(lat=36.652, lon=117.121, capabilities=("weighing",))
    near_aux_only = await org.unit(lat=36.652, lon=117.121, sworn=False)
    off_duty = await org.unit(lat=36.651, lon=117.120, on_duty=False)
    far = await org.unit(lat=36.75, lon=117.20)
    mid = await org.unit(lat=36.68, lon=117.14)
    alert = make_alert()
    assert await assign(fresh, alert, clock=clock) == "assigned"
    [task] = await tasks_of(fresh, alert.id)
    assert task.unit_id == mid
    assert task.status == "assigned" and task.enforcement and task.version == 1
    reasons = task.reasons
    assert reasons["needs"] == ["breathalyser"]
    assert [r["unit_id"] for r in reasons["runners_up"]] == [far]
    assert "min away" in reasons["runners_up"][0]["why"]
    assert reasons["excluded"] == {"lacks breathalyser": 1, "no sworn officer on board": 1}
    assert off_duty not in {near_no_kit, near_aux_only, far, mid}  # never even a candidate


async def test_the_same_alert_version_twice_makes_one_task(fresh: Any, org: Org, clock: OffsetClock) -> None:
    await org.unit()
    await org.unit(lat=36.7)
    alert = make_alert()
    assert await assign(fresh, alert, clock=clock) == "assigned"
    assert await assign(fresh, alert, clock=clock) == "stale"
    bumped = bump(alert, count=2)
    assert await assign(fresh, bumped, clock=clock) == "handled"
    assert len(await tasks_of(fresh, alert.id)) == 1


async def test_dismissed_alert_cancels_its_task_and_frees_the_unit(
    fresh: Any, org: Org, clock: OffsetClock
) -> None:
    unit = await org.unit()
    alert = make_alert()
    await assign(fresh, alert, clock=clock)
    dismissed = bump(alert, status="dismissed")
    assert await assign(fresh, dismissed, clock=clock) == "closed"
    [task] = await tasks_of(fresh, alert.id)
    assert task.status == "cancelled" and task.version == 2
    other = make_alert()
    assert await assign(fresh, other, clock=clock) == "assigned"
    assert (await tasks_of(fresh, other.id))[0].unit_id == unit


async def test_no_free_unit_leaves_the_alert_pending_until_one_frees_up(
    fresh: Any, org: Org, clock: OffsetClock
) -> None:
    await org.unit()
    first, second = make_alert(), make_alert()
    assert await assign(fresh, first, clock=clock) == "assigned"
    assert await assign(fresh, second, clock=clock) == "pending"
    async with fresh.state.runtime.sessions() as s:
        reason = await s.scalar(
            text("SELECT last_reason FROM dispatch.alerts WHERE alert_id = :a"), {"a": second.id}
        )
    assert "holds an active task" in reason
    await assign(fresh, bump(first, status="resolved"), clock=clock)
    done = await fresh.state.service.watcher.tick()
    assert done["pending:assigned"] == 1
    assert len(await tasks_of(fresh, second.id)) == 1


async def test_concurrent_assigners_never_give_a_unit_two_active_tasks(
    fresh: Any, org: Org, clock: OffsetClock
) -> None:
    units = {await org.unit(lat=36.65 + i * 0.01) for i in range(4)}
    alerts = [make_alert() for _ in range(12)]
    rt = fresh.state.runtime

    async def one(alert: Any) -> Any:
        # Each on its own connection and transaction, as separate replicas would.
        async with transaction(rt.sessions) as s:
            await s.execute(text("SELECT 1"))
            return await assign_alert(s, alert=alert, settings=fresh.state.settings, now=clock.now())

    results = await asyncio.gather(*(one(a) for a in alerts))
    got = [r.task.unit_id for r in results if r.task is not None]
    assert sorted(got) == sorted(units)  # each unit exactly once, the other alerts found nobody
    assert all(r.reason for r in results if r.task is None)
    async with rt.sessions() as s:
        active = await s.execute(
            text("SELECT unit_id, count(*) FROM dispatch.tasks WHERE status = 'assigned' GROUP BY unit_id")
        )
        assert all(n == 1 for _, n in active)


async def test_the_database_refuses_a_second_active_task_for_a_unit(
    fresh: Any, org: Org, clock: OffsetClock
) -> None:
    await org.unit()
    alert = make_alert()
    await assign(fresh, alert, clock=clock)
    [task] = await tasks_of(fresh, alert.id)
    with pytest.raises(IntegrityError, match="uq_tasks_active_unit"):
        async with transaction(fresh.state.runtime.sessions) as s:
            await s.execute(
                text(
                    "INSERT INTO dispatch.tasks SELECT 'T-dup', 'A-other', alert_version, unit_id, 'signed', "
                    "priority, target_lat, target_lon, target_admin_code, intercept_point, summary, enforcement, "
                    "sign_by, feedback_by, feedback_deadline_s, version, outcome, note, escalated, reasons, "
                    "previous_task_id, reason, unit_seq, created_at, updated_at, signed_at, resolved_at "
                    "FROM dispatch.tasks WHERE id = :id"
                ),
                {"id": task.id},
            )


async def test_reserve_rule_in_the_database_p3_waits_while_p1_takes_the_last_units(
    fresh: Any, org: Org, clock: OffsetClock
) -> None:
    fresh.state.settings.reserve_units = 2
    await org.unit()
    await org.unit(lat=36.7)
    low = make_alert(priority="P3")
    assert await assign(fresh, low, clock=clock) == "pending"
    async with fresh.state.runtime.sessions() as s:
        reason = await s.scalar(
            text("SELECT last_reason FROM dispatch.alerts WHERE alert_id = :a"), {"a": low.id}
        )
    assert reason.startswith("reserve: taking it would leave 370100 with 1 available unit(s), fewer than 2")
    assert await assign(fresh, make_alert(priority="P1"), clock=clock) == "assigned"
    assert await assign(fresh, make_alert(priority="P2"), clock=clock) == "assigned"
    await org.unit(lat=36.8)
    await org.unit(lat=36.9)
    await org.unit(lat=36.95)
    assert (await fresh.state.service.watcher.tick())["pending:assigned"] == 1  # three free now: one may go
