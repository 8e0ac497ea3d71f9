"""Shift plans through the API: a demand curve in, starts + coverage + plot out, applied as rosters;
and the default demand from the alert history that dispatch keeps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from .conftest import OffsetClock, Org, assign, make_alert

pytestmark = [pytest.mark.db]
Api = Callable[..., httpx.AsyncClient]


async def test_plan_for_a_demand_curve_with_plot_and_apply(fresh: Any, api: Api, org: Org) -> None:
    for i in range(6):
        await org.unit(on_duty=False, lat=36.6 + i * 0.01)
    planner = api(role="city_commander", jur="3701")
    demand = [1] * 6 + [2, 3, 3, 2, 2, 2, 2, 2, 2, 2, 3, 3, 2, 1] + [1] * 4
    r = await planner.post(
        "/v1/shift-plans",
        json={
            "admin_code": "370100",
            "demand": demand,
            "shift_hours": 8,
            "min_rest_hours": 12,
            "cyclic": False,
            "start_date": "2030-01-07",
        },
    )
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["status"] == "optimal" and plan["demand_source"] == "request" and plan["hours"] == 24
    assert [c["demand"] for c in plan["coverage"]] == demand
    assert all(c["covered"] >= c["demand"] for c in plan["coverage"]) and plan["uncovered_hours"] == []
    assert plan["unit_hours"] == 8 * sum(s["units"] for s in plan["starts"])
    assert plan["starts"][0]["at"].startswith("2030-01-07T") and plan["starts"][0]["at"].endswith("+08:00")
    png = await planner.get(plan["plot_url"])
    assert (
        png.status_code == 200
        and png.headers["content-type"] == "image/png"
        and png.content[:4] == b"\x89PNG"
    )
    applied = (await planner.post(f"/v1/shift-plans/{plan['id']}/apply")).json()
    assert applied["rosters_created"] + sum(s["units"] for s in applied["unfilled"]) == sum(
        s["units"] for s in plan["starts"]
    )
    assert applied["rosters_created"] > 0
    rosters = (
        await planner.get("/v1/rosters", params={"since": "2030-01-06T00:00:00+08:00", "limit": 100})
    ).json()
    assert len(rosters["items"]) == applied["rosters_created"]
    assert all(x["source"] == f"plan:{plan['id']}" and x["has_sworn"] for x in rosters["items"])
    again = await planner.post(f"/v1/shift-plans/{plan['id']}/apply")
    assert again.status_code == 409 and again.json()["error"] == "plan_applied"
    assert (
        await api(role="city_commander", jur="3702").get(f"/v1/shift-plans/{plan['id']}")
    ).status_code == 404
    bad = await planner.post("/v1/shift-plans", json={"admin_code": "370100", "demand": [-1, 2]})
    assert bad.status_code == 422


async def test_default_demand_comes_from_the_alert_history_by_hour_of_week(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    # Ten drunk-driving alerts last week on Friday 22:00 local time in Jinan.
    now = clock.now()
    local_now = now.astimezone(datetime.fromisoformat("2030-01-01T00:00:00+08:00").tzinfo)
    friday = (local_now - timedelta(days=local_now.weekday() + 3)).replace(
        hour=22, minute=10, second=0, microsecond=0
    )
    for _ in range(10):
        seen = friday.astimezone(UTC).isoformat()
        await assign(fresh, make_alert(first_seen=seen, last_seen=seen, status="resolved"), clock=clock)
    planner = api(role="dispatcher", jur="3701")
    r = await planner.post(
        "/v1/shift-plans", json={"admin_code": "370100", "min_units": 0, "utilisation": 0.5}
    )
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["demand_source"] == "history" and plan["hours"] == 168
    peak = [c for c in plan["coverage"] if c["demand"] > 0]
    # 10 alerts × 1.0 h over 4 weeks = 2.5 unit-hours per Friday 22:00 → 5 units at 50 % utilisation.
    assert [
        (datetime.fromisoformat(c["at"]).weekday(), datetime.fromisoformat(c["at"]).hour, c["demand"])
        for c in peak
    ] == [(4, 22, 5)]
    assert plan["unit_hours"] == 5 * 8
