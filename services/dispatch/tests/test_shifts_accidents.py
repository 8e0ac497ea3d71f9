"""The shift planner's demand with accidents: the accident-risk layer on a known curve (severity
weights, the rural commute peak, market days), combined with the violation load, and the
accidents.accepted.v1 consumer that feeds it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select, text

from qzx_common.topics import ACCIDENTS_ACCEPTED
from qzx_dev.samples import make_accident
from qzx_dev.testing import Stack, eventually
from qzx_dispatch.shifts.demand import (
    AccidentHistory,
    AccidentWeights,
    accident_risk,
    market_days_between,
    units_needed,
)
from qzx_dispatch.shifts.models import AccidentFact

from .conftest import OffsetClock, assign, make_alert

CST = timezone(timedelta(hours=8))
WEIGHTS = AccidentWeights(
    unit_hours={"property_only": 0.5, "injury": 1.5, "fatal": 3.0},
    rural_peak_hours=frozenset({6, 7, 17, 18}),
    rural_peak_factor=2.0,
    market_days=frozenset({1, 6, 11, 16, 21, 26}),
)


def test_accident_risk_on_a_known_curve() -> None:
    start = datetime(2026, 12, 7, tzinfo=CST)  # Monday 7 December, local midnight
    history = AccidentHistory(weeks=4, market_days=4)
    history.weekly[7] = {("injury", True): 2, ("property_only", False): 4}  # Monday 07:00, a rural peak
    history.weekly[9] = {("injury", True): 2}  # Monday 09:00, no peak
    history.weekly[24 + 22] = {("fatal", False): 1}  # Tuesday 22:00
    history.market[10] = {("injury", False): 8}  # road-market accidents on market days, 10:00
    risk = accident_risk(history, start=start, hours=7 * 24, weights=WEIGHTS)
    # 07:00: (2 × 1.5 × 2 (rural peak) + 4 × 0.5) / 4 weeks = 2.0; 09:00: 2 × 1.5 / 4 = 0.75
    assert risk[7] == 2.0 and risk[9] == 0.75
    assert risk[24 + 22] == 0.75  # 3.0 / 4
    # market days in the week of 7 December: the 11th (Friday); 8 × 1.5 / 4 market days = 3.0
    assert risk[4 * 24 + 10] == 3.0 and risk[10] == 0.0
    assert sum(1 for r in risk if r) == 4
    # with a violation load of 1 unit-hour at 07:00 and 50 % utilisation: (1 + 2) / 0.5 = 6 units
    load = [0.0] * len(risk)
    load[7] = 1.0
    units = units_needed([load, risk], utilisation=0.5, min_units=1)
    assert (units[7], units[9], units[4 * 24 + 10], units[3]) == (6, 2, 6, 1)


def test_market_days_in_a_window() -> None:
    first, after = datetime(2026, 11, 9).date(), datetime(2026, 12, 7).date()  # four weeks
    assert market_days_between(first, after, WEIGHTS.market_days) == 6  # 11, 16, 21, 26 Nov, 1 and 6 Dec


@pytest.mark.db
async def test_plan_demand_combines_accidents_and_violations(
    fresh: Any, api: Callable[..., httpx.AsyncClient], clock: OffsetClock
) -> None:
    now = clock.now()
    local_now = now.astimezone(CST)
    monday = (local_now - timedelta(days=local_now.weekday() + 7)).replace(minute=20, second=0, microsecond=0)
    accidents = [
        # last Monday 07:20: four rural injury accidents in the commute peak (4 × 1.5 × 1.5 = 9 unit-hours)
        *[("injury", True, monday.replace(hour=7)) for _ in range(4)],
        # last Monday 14:20: two fatal accidents in the town (2 × 3.0 = 6 unit-hours)
        *[("fatal", False, monday.replace(hour=14)) for _ in range(2)],
    ]
    async with fresh.state.runtime.sessions() as s:
        for i, (severity, rural, at) in enumerate(accidents):
            s.add(
                AccidentFact(
                    accident_id=f"dx-{i}",
                    occurred_at=at,
                    admin_code="370102",
                    severity=severity,
                    road_feature="junction",
                    rural=rural,
                )
            )
        await s.commit()
    # and the violation load: 4 drunk-driving alerts at Monday 14:20 (4 × 1.0 unit-hours)
    for _ in range(4):
        seen = monday.replace(hour=14).astimezone(UTC).isoformat()
        await assign(fresh, make_alert(first_seen=seen, last_seen=seen, status="resolved"), clock=clock)
    planner = api(role="dispatcher", jur="3701")
    r = await planner.post(
        "/v1/shift-plans", json={"admin_code": "370100", "min_units": 0, "utilisation": 0.5}
    )
    assert r.status_code == 201, r.text
    plan = r.json()
    mondays = {
        datetime.fromisoformat(c["at"]).hour: c
        for c in plan["coverage"]
        if datetime.fromisoformat(c["at"]).weekday() == 0
    }
    # 4 weeks of history at 50 %: 07:00 accidents 9 / 4 / 0.5 = 4.5 units → 5
    assert (mondays[7]["accidents"], mondays[7]["violations"], mondays[7]["demand"]) == (4.5, 0.0, 5)
    # 14:00: accidents 6 / 4 / 0.5 = 3, violations 4 / 4 / 0.5 = 2 → 5
    assert (mondays[14]["accidents"], mondays[14]["violations"], mondays[14]["demand"]) == (3.0, 2.0, 5)
    busy = [datetime.fromisoformat(c["at"]) for c in plan["coverage"] if c["demand"]]
    assert [(at.weekday(), at.hour) for at in busy] == [(0, 7), (0, 14)]
    png = await planner.get(plan["plot_url"])
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"


@pytest.mark.db
@pytest.mark.kafka
async def test_accidents_topic_feeds_the_planner_once(
    stack: Stack, producer: Any, fresh: Any, api: Callable[..., httpx.AsyncClient]
) -> None:
    tag = uuid.uuid4().hex[:10]
    report = make_accident(accident_id=f"370102-A-{tag}", rural=True)
    topic = stack.topic_prefix + ACCIDENTS_ACCEPTED
    await producer.send(topic, b'{"accident_id": "' + tag.encode() + b'"}', key=tag.encode())
    for _ in range(2):  # a redelivery
        await producer.send(topic, orjson.dumps(report), key=tag.encode())
    await producer.flush()

    async def stored() -> list[AccidentFact]:
        async with fresh.state.runtime.sessions() as s:
            return list(
                (await s.scalars(select(AccidentFact).where(AccidentFact.accident_id.contains(tag)))).all()
            )

    rows = await eventually(stored, timeout=30)
    assert [(r.severity, r.rural, r.admin_code) for r in rows] == [("injury", True, "370102")]
    items = (await api().get("/v1/dlq")).json()["items"]
    [letter] = [d for d in items if tag in d["raw"]]
    assert letter["source"] == ACCIDENTS_ACCEPTED and letter["consumer"] == "qzx-dispatch-accidents"
    assert "not an AccidentReport" in letter["error"]
    async with fresh.state.runtime.sessions() as s:
        assert (await s.execute(text("SELECT count(*) FROM dispatch.accident_facts"))).scalar() == 1
