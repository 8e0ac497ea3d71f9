"""The consumer's batch intake (``intake_batch``, one transaction for a consumed batch, units ranked
in memory) decides what the one-alert intake decides: the same outcomes, the same units, the same
reasons, the same alert states; and through the real broker a record that fails alone is
dead-lettered while the rest of its batch gets its tasks."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from qzx_common.contracts.alerts import COVERT, HOTLIST_HIT, Alert
from qzx_common.topics import ALERTS
from qzx_dev.testing import Stack, eventually
from qzx_dispatch.tasks.intake import intake
from qzx_dispatch.tasks.intake_batch import intake_batch
from qzx_dispatch.tasks.models import AlertRecord, TaskRow

from .conftest import OffsetClock, Org, assign, bump, make_alert

pytestmark = [pytest.mark.db]


async def decisions(session: Any, alerts: list[Alert]) -> dict[str, Any]:
    """What the intake left for these alerts: per alert its state, reason, attempts and its tasks'
    units and reasons (ids and times aside)."""
    ids = [a.id for a in alerts]
    rows = (await session.scalars(select(AlertRecord).where(AlertRecord.alert_id.in_(ids)))).all()
    tasks = (await session.scalars(select(TaskRow).where(TaskRow.alert_id.in_(ids)))).all()
    return {
        r.alert_id: (
            r.state,
            r.last_reason,
            r.attempts,
            sorted(
                (t.unit_id, t.status, repr(sorted(t.reasons.items())))
                for t in tasks
                if t.alert_id == r.alert_id
            ),
        )
        for r in rows
    }


async def both_ways(
    fresh: Any, clock: OffsetClock, batch: list[Alert], *, watched: list[Alert]
) -> tuple[Counter[str], Counter[str], dict[str, Any], dict[str, Any]]:
    """The batch through ``intake_batch`` and through ``intake`` one by one, each run rolled back
    (the same world for both): both outcomes, then both decisions on the ``watched`` alerts."""
    settings, now = fresh.state.settings, clock.now()
    async with fresh.state.runtime.sessions() as s, s.begin():
        batched = await intake_batch(s, alerts=batch, settings=settings, now=now)
        by_batch = await decisions(s, watched)
        await s.rollback()
    async with fresh.state.runtime.sessions() as s, s.begin():
        one_by_one = Counter([await intake(s, alert=a, settings=settings, now=now) for a in batch])
        by_one = await decisions(s, watched)
        await s.rollback()
    return batched, one_by_one, by_batch, by_one


async def test_a_batch_decides_what_alerts_one_by_one_decide(
    fresh: Any, org: Org, clock: OffsetClock
) -> None:
    fresh.state.settings.reserve_units = 1
    await org.unit(lat=36.652, lon=117.121, capabilities=("weighing",))
    await org.unit(lat=36.652, lon=117.121, sworn=False, capabilities=("ebike", "breathalyser"))
    await org.unit(lat=36.70, lon=117.16)
    await org.unit(lat=36.68, lon=117.14)
    await org.unit(lat=36.75, lon=117.20, vehicle="motorcycle")
    await org.unit(lat=36.651, lon=117.120, vehicle="checkpoint_post")
    await org.unit(lat=36.66, lon=117.13, on_duty=False)
    await org.unit(admin_code="370202", lat=36.07, lon=120.38)  # another city
    earlier, to_dismiss = make_alert(), make_alert(location={"lat": 36.69})
    assert await assign(fresh, earlier, clock=clock) == "assigned"
    assert await assign(fresh, to_dismiss, clock=clock) == "assigned"
    # The dismissal first: a batch cancels before it assigns (the unit it frees serves the batch).
    batch = [
        bump(to_dismiss, status="dismissed", dismiss_reason="test"),
        make_alert(),
        make_alert(priority="P3", violations=["speeding"]),
        make_alert(violations=["overload"], location={"lat": 36.653}),
        make_alert(violations=["ebike_red_light"], priority="P2"),
        make_alert(
            kind=HOTLIST_HIT,
            violations=[],
            factors=[{"name": "hotlist", "value": COVERT, "contribution": 0, "why": "covert"}],
        ),
        bump(earlier, count=2),
        make_alert(location={"lat": 36.07, "lon": 120.38, "admin_code": "370202"}),
        make_alert(priority="P4", violations=["speeding"]),
        make_alert(priority="P2"),
        make_alert(priority="P1", violations=["speeding"]),
    ]
    batched, one_by_one, by_batch, by_one = await both_ways(fresh, clock, batch, watched=batch)
    assert batched == one_by_one
    assert by_batch == by_one
    assert {"assigned", "pending", "handled", "closed", "covert"} <= set(batched)


async def test_a_batch_preempts_what_alerts_one_by_one_preempt(
    fresh: Any, org: Org, clock: OffsetClock
) -> None:
    """Every unit busy with lower-priority work: the batch's P1s take the units the one-alert path
    gives them (the nearest first, the lowest displaced priority breaking ties), the displaced
    alerts go back to the queue, and a P1 no holder suits (a weighing unit) is left pending."""
    lows = []
    for lat, priority in ((36.70, "P3"), (36.66, "P4"), (36.68, "P3"), (36.75, "P4")):
        await org.unit(lat=lat, lon=117.12, capabilities=("breathalyser",))
        low = make_alert(priority=priority, violations=["speeding"], location={"lat": lat})
        assert await assign(fresh, low, clock=clock) == "assigned"
        lows.append(low)
    on_scene = (await org.unit(lat=36.651, lon=117.12, capabilities=("breathalyser",)),)
    busy = make_alert(priority="P4", violations=["speeding"], location={"lat": 36.651})
    assert await assign(fresh, busy, clock=clock) == "assigned"
    async with fresh.state.runtime.sessions() as s, s.begin():
        await s.execute(update(TaskRow).where(TaskRow.unit_id.in_(on_scene)).values(status="on_scene"))
    batch = [
        make_alert(location={"lat": 36.652}),
        make_alert(violations=["overload"], location={"lat": 36.69}),  # needs weighing
        make_alert(location={"lat": 36.74}),
        make_alert(priority="P2", location={"lat": 36.70}),  # P2s do not pre-empt by default
        make_alert(location={"lat": 36.67}),
    ]
    batched, one_by_one, by_batch, by_one = await both_ways(
        fresh, clock, batch, watched=[*batch, *lows, busy]
    )
    assert batched == one_by_one == {"assigned": 3, "pending": 2}
    assert by_batch == by_one
    # Each P1 took the nearest holder (36.66, 36.75, then 36.68); the P3 at 36.70 and the task
    # on scene kept their units.
    assert [by_batch[a.id][0] for a in [*lows, busy]] == [
        "handled",
        "pending",
        "pending",
        "pending",
        "handled",
    ]


async def test_an_alert_the_batch_has_already_applied_is_stale(
    fresh: Any, org: Org, clock: OffsetClock
) -> None:
    await org.unit()
    alerts = [make_alert(), make_alert(location={"lat": 36.7})]
    settings = fresh.state.settings
    async with fresh.state.runtime.sessions() as s, s.begin():
        assert await intake_batch(s, alerts=alerts, settings=settings, now=clock.now()) == {
            "assigned": 1,
            "pending": 1,
        }
    async with fresh.state.runtime.sessions() as s, s.begin():
        assert await intake_batch(s, alerts=alerts, settings=settings, now=clock.now()) == {"stale": 2}


@pytest.mark.kafka
async def test_a_record_that_fails_alone_is_dead_lettered_and_its_batch_tasked(
    stack: Stack, producer: Any, dispatch: Any, org: Org, api: Callable[..., httpx.AsyncClient]
) -> None:
    for lat in (36.65, 36.66, 36.67, 36.68):
        await org.unit(lat=lat)
    tag = uuid.uuid4().hex[:8]
    good = [make_alert(id=f"A-{tag}-{i}") for i in range(4)]
    # A valid Alert the database refuses (an admin code longer than the column): it fails alone.
    poison = make_alert(id=f"A-{tag}-poison", location={"admin_code": "3701021234567890"})
    for alert in [*good[:2], poison, *good[2:]]:
        await producer.send(stack.topic_prefix + ALERTS, alert.model_dump_json().encode(), key=b"one")
    await producer.flush()

    async def tasked() -> int | None:
        async with dispatch.state.runtime.sessions() as s:
            q = select(TaskRow).where(TaskRow.alert_id.in_([a.id for a in good]))
            n = len((await s.scalars(q)).all())
            return n if n == len(good) else None

    await eventually(tasked, timeout=60)
    items = (await api().get("/v1/dlq")).json()["items"]
    [letter] = [d for d in items if poison.id in d["raw"]]
    assert letter["source"] == ALERTS and letter["consumer"] == "qzx-dispatch"
