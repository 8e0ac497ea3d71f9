"""Report arithmetic on a known data set (Liaocheng, 3715, used by no other test)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import text

pytestmark = [pytest.mark.db]

CST = timezone(timedelta(hours=8))
DAY = datetime(2026, 3, 10, tzinfo=CST)  # a Tuesday
PREV = DAY - timedelta(days=1)

# (event id, plate, violation, device, admin code, local time)
SIGHTINGS = [
    ("r-1", "鲁PX0001", "drunk_driving", "371502-BC-0001", "371502", DAY.replace(hour=23, minute=5)),
    ("r-2", "鲁PX0001", "drunk_driving", "371502-BC-0001", "371502", DAY.replace(hour=23, minute=40)),
    ("r-3", "鲁PX0001", "speeding", "371502-BC-0001", "371502", DAY.replace(hour=8, minute=1)),
    ("r-4", "鲁PY0002", "speeding", "371502-BC-0001", "371502", DAY.replace(hour=8, minute=2)),
    ("r-5", "鲁PY0002", "drunk_driving", "371503-SC-0002", "371503", DAY.replace(hour=23, minute=59)),
    ("r-6", "鲁PZ0003", "overload", "371503-SC-0002", "371503", DAY.replace(hour=0, minute=0)),
    ("r-7", "鲁PZ0004", "overload", "371402-WM-0003", "371402", DAY.replace(hour=9)),  # Dezhou: not 3715
    ("r-8", "鲁PZ0005", "overload", "371503-SC-0002", "371503", DAY + timedelta(days=1)),  # next day
    ("r-9", "鲁PZ0006", "red_light", "371502-BC-0001", "371502", PREV.replace(hour=12)),
    ("r-10", "鲁PZ0007", "red_light", "371502-BC-0001", "371502", PREV.replace(hour=13)),
]
# (id, first seen, dispatched +s, signed +s after dispatch, resolved +s after first seen, outcome, status)
ALERTS = [
    ("ra-1", DAY.replace(hour=10), 30, 60, 600, "ticketed", "resolved"),
    ("ra-2", DAY.replace(hour=11), 30, 180, 1200, "warned", "resolved"),
    ("ra-3", DAY.replace(hour=12), 30, None, None, None, "escalated"),
    ("ra-4", DAY.replace(hour=13), None, None, None, None, "new"),
    ("ra-5", PREV.replace(hour=10), 10, 20, 300, "intercepted", "resolved"),
    ("ra-6", PREV.replace(hour=11), None, None, None, None, "dismissed"),
]


@pytest.fixture(scope="module")
async def known(alerts: Any) -> None:
    async with alerts.state.runtime.engine.begin() as conn:
        for eid, plate, violation, device, code, at in SIGHTINGS:
            await conn.execute(
                text(
                    "INSERT INTO alerts.sightings (event_id, plate, violation, device_id, lat, lon, admin_code, "
                    "captured_at) VALUES (:e, :p, :v, :d, 36.46, 115.99, :a, :t)"
                ),
                {"e": eid, "p": plate, "v": violation, "d": device, "a": code, "t": at},
            )
        for aid, first, disp, sign, res, outcome, status in ALERTS:
            dispatched = first + timedelta(seconds=disp) if disp is not None else None
            await conn.execute(
                text(
                    "INSERT INTO alerts.alerts (id, kind, dedup_key, status, priority, score, factors, violations, "
                    "plates, admin_code, city_code, lat, lon, first_seen, last_seen, count, event_ids, "
                    "rules_version, dispatched_at, signed_at, resolved_at, escalated_at, outcome) VALUES "
                    "(:id, 'violation', :id, :status, 'P2', 60, '[]', '{speeding}', '{}', '371502', '3715', "
                    "36.46, 115.99, :first, :first, 1, '{}', 'test', :d, :s, :r, :e, :o)"
                ),
                {
                    "id": aid,
                    "status": status,
                    "first": first,
                    "d": dispatched,
                    "s": dispatched + timedelta(seconds=sign) if sign is not None else None,
                    "r": first + timedelta(seconds=res) if res is not None else None,
                    "e": first + timedelta(minutes=5) if status == "escalated" else None,
                    "o": outcome,
                },
            )


async def test_daily_report_figures(client: httpx.AsyncClient, known: None) -> None:
    r = await client.get("/v1/reports/daily", params={"date": "2026-03-10", "admin_code": "3715"})
    assert r.status_code == 200, r.text
    rep = r.json()
    ev = rep["events"]
    assert ev["total"] == 6
    assert ev["by_violation"] == {"drunk_driving": 3, "overload": 1, "speeding": 2}
    assert (
        ev["by_hour"][23] == 3 and ev["by_hour"][8] == 2 and ev["by_hour"][0] == 1 and sum(ev["by_hour"]) == 6
    )
    assert ev["by_city"] == {"371500": {"name": "Liaocheng", "count": 6}}
    a = rep["alerts"]
    assert (a["raised"], a["dispatched"], a["signed"], a["feedback"], a["handled"], a["escalated"]) == (
        4,
        3,
        2,
        2,
        2,
        1,
    )
    assert a["sign_for_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert a["feedback_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert a["road_management_rate"] == 0.5
    assert a["time_to_sign_s"] == {"median": 120.0, "p90": 168.0}
    assert a["time_to_resolve_s"] == {"median": 900.0, "p90": 1140.0}
    assert a["by_outcome"] == {"ticketed": 1, "warned": 1}
    assert [(h["device_id"], h["count"]) for h in rep["hotspots"]] == [
        ("371502-BC-0001", 4),
        ("371503-SC-0002", 2),
    ]
    assert [(o["plate"], o["count"]) for o in rep["repeat_offenders"]] == [("鲁PX0001", 3), ("鲁PY0002", 2)]
    assert rep["repeat_offenders"][0]["violations"] == ["drunk_driving", "speeding"]
    trend = rep["trend"]
    assert trend["previous"]["events"]["total"] == 2 and trend["previous"]["alerts"]["raised"] == 2
    assert trend["events_change_pct"] == 200.0 and trend["alerts_change_pct"] == 100.0
    assert trend["road_management_rate_change"] == 0.0
    assert rep["from"].startswith("2026-03-10T00:00:00+08:00")


async def test_weekly_and_monthly_periods_and_scope(
    client: httpx.AsyncClient, client_for: Any, known: None
) -> None:
    week = (
        await client.get("/v1/reports/weekly", params={"date": "2026-03-12", "admin_code": "3715"})
    ).json()
    assert week["from"].startswith("2026-03-09") and week["to"].startswith("2026-03-16")
    assert week["events"]["total"] == 9 and week["alerts"]["raised"] == 6
    assert week["trend"]["events_change_pct"] is None  # nothing the week before
    month = (
        await client.get("/v1/reports/monthly", params={"date": "2026-03-31", "admin_code": "371502"})
    ).json()
    assert month["events"]["total"] == 6 and month["events"]["by_day"] == {"2026-03-09": 2, "2026-03-10": 4}
    async with client_for(role="dispatcher", jur="3701") as jinan:
        r = await jinan.get("/v1/reports/daily", params={"date": "2026-03-10", "admin_code": "3715"})
        assert r.status_code == 403
        own = (await jinan.get("/v1/reports/daily", params={"date": "2026-03-10"})).json()
        assert own["admin_code"] == "3701" and own["events"]["total"] == 0
    r = await client.get("/v1/reports/yearly")
    assert r.status_code == 422


async def test_monthly_png(client: httpx.AsyncClient, known: None) -> None:
    r = await client.get("/v1/reports/monthly.png", params={"date": "2026-03-10", "admin_code": "3715"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content[:8] == b"\x89PNG\r\n\x1a\n" and len(r.content) > 10_000


async def test_reports_leave_covert_hits_out(client: httpx.AsyncClient, alerts: Any) -> None:
    """A report is an export: a covert checkpoint hit is not counted in it (nor for a commander)."""
    day = datetime(2026, 5, 20, 9, tzinfo=CST)
    async with alerts.state.runtime.engine.begin() as conn:
        for aid, value in (("rc-covert", "covert"), ("rc-open", "hl-1")):
            factors = f'[{{"name": "hotlist", "value": "{value}", "contribution": 0, "why": "listed"}}]'
            await conn.execute(
                text(
                    "INSERT INTO alerts.alerts (id, kind, dedup_key, status, priority, score, factors, violations, "
                    "plates, admin_code, city_code, lat, lon, first_seen, last_seen, count, event_ids, "
                    "rules_version) VALUES (:id, 'hotlist_hit', :id, 'new', 'P2', 60, CAST(:f AS jsonb), '{}', "
                    "'{}', '371502', '3715', 36.46, 115.99, :at, :at, 1, '{}', 'test')"
                ),
                {"id": aid, "f": factors, "at": day},
            )
    r = await client.get("/v1/reports/daily", params={"date": "2026-05-20", "admin_code": "3715"})
    assert r.status_code == 200, r.text
    a = r.json()["alerts"]
    assert (a["raised"], a["by_kind"], a["by_priority"]) == (1, {"hotlist_hit": 1}, {"P2": 1})
