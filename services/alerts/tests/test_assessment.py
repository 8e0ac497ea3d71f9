"""Accidents year on year, hazards, the league table, the assessment score and the CSV export, on a
known data set: September 2025 against September 2024, in Jinan and Qingdao (no other test uses
those months)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from qzx_alerts.accidents.repository import store_facts
from qzx_alerts.accidents.service import apply_accidents
from qzx_common.contracts.accidents import AccidentReport
from qzx_dev.samples import make_accident

pytestmark = [pytest.mark.db]

CST = timezone(timedelta(hours=8))
SEP = datetime(2025, 9, 10, 8, tzinfo=CST)
LAST_SEP = datetime(2024, 9, 10, 8, tzinfo=CST)
JINAN = {"lat": 36.651, "lon": 117.120, "admin_code": "370102", "road": "S102"}
QINGDAO = {"lat": 36.07, "lon": 120.38, "admin_code": "370202", "road": "G204"}


def accident(
    aid: str,
    at: datetime,
    where: dict[str, Any],
    severity: str,
    injured: int = 0,
    killed: int = 0,
    *,
    rural: bool = False,
    ebike: bool = False,
) -> AccidentReport:
    return AccidentReport.model_validate(
        make_accident(
            accident_id=f"asx-{aid}",
            occurred_at=at,
            location=where,
            severity=severity,
            injured=injured,
            killed=killed,
            rural=rural,
            ebike_involved=ebike,
            vehicles=[{"plate": "鲁A12345", "vehicle_class": "car"}],
        )
    )


KNOWN = [
    # Jinan, September 2025: 3 accidents, 3 injured, 3 killed (one major), 2 rural, 1 e-bike
    accident("j1", SEP, JINAN, "injury", 2, rural=True, ebike=True),
    accident("j2", SEP + timedelta(days=5), JINAN | {"admin_code": "370112"}, "fatal", 1, 3),
    accident("j3", SEP + timedelta(days=10), JINAN, "property_only", rural=True),
    # Jinan, September 2024: 4 accidents, 5 injured, 1 killed
    accident("jl1", LAST_SEP, JINAN, "injury", 5),
    accident("jl2", LAST_SEP, JINAN, "fatal", 0, 1),
    accident("jl3", LAST_SEP, JINAN, "property_only"),
    accident("jl4", LAST_SEP, JINAN, "property_only"),
    # Qingdao: 1 / 1 / 0 this year against 2 / 2 / 2 last year: the three declines
    accident("q1", SEP, QINGDAO, "injury", 1, ebike=True),
    accident("ql1", LAST_SEP, QINGDAO, "injury", 2),
    accident("ql2", LAST_SEP, QINGDAO, "fatal", 0, 2),
    # just outside September 2025 (local time)
    accident("out1", datetime(2025, 8, 31, 23, 59, tzinfo=CST), JINAN, "injury", 9),
    accident("out2", datetime(2025, 10, 1, 0, 0, tzinfo=CST), JINAN, "fatal", 0, 9),
]


@pytest.fixture(scope="module")
async def known(alerts: Any) -> AsyncIterator[None]:
    await _store_known(alerts)
    yield
    # The raw hazards sit where other modules' events happen: scoring must not see them after.
    async with alerts.state.runtime.engine.begin() as conn:
        await conn.execute(text("DELETE FROM alerts.hazards WHERE id LIKE 'hz-asx-%'"))
    alerts.state.service.scoring.hazards.invalidate()


async def _store_known(alerts: Any) -> None:
    async with alerts.state.runtime.engine.begin() as conn:
        await store_facts(conn, KNOWN)
        await store_facts(conn, KNOWN[:2])  # a redelivery: stored once
        for aid, status, dispatched in (("asx-a1", "resolved", True), ("asx-a2", "new", False)):
            at = SEP + timedelta(hours=2)
            await conn.execute(
                text(
                    "INSERT INTO alerts.alerts (id, kind, dedup_key, status, priority, score, factors, violations, "
                    "plates, admin_code, city_code, lat, lon, first_seen, last_seen, count, event_ids, "
                    "rules_version, dispatched_at, signed_at, resolved_at, outcome) VALUES "
                    "(:id, 'violation', :id, :status, 'P2', 60, '[]', '{speeding}', '{}', '370102', '3701', "
                    "36.65, 117.12, :at, :at, 1, '{}', 'test', :d, :d, :r, :o) ON CONFLICT DO NOTHING"
                ),
                {
                    "id": aid,
                    "status": status,
                    "at": at,
                    "d": at + timedelta(minutes=1) if dispatched else None,
                    "r": at + timedelta(minutes=30) if dispatched else None,
                    "o": "ticketed" if dispatched else None,
                },
            )
        # found this month and rectified in it; found in August, assigned, past its deadline
        for hid, created, state, deadline, rectified in (
            ("hz-asx-1", SEP, "rectified", SEP + timedelta(days=10), SEP + timedelta(days=3)),
            ("hz-asx-2", SEP - timedelta(days=30), "assigned", SEP + timedelta(days=10), None),
        ):
            await conn.execute(
                text(
                    "INSERT INTO alerts.hazards (id, name, lat, lon, radius_m, risk_level, status, admin_code, "
                    "owner_code, state, deadline, rectified_at, created_by, created_at, updated_at) VALUES "
                    "(:id, '道口', 36.65, 117.12, 300, 'high', 'new', '370102', '370102', :state, :deadline, "
                    ":rectified, 'p-1', :at, :at) ON CONFLICT DO NOTHING"
                ),
                {"id": hid, "at": created, "state": state, "deadline": deadline, "rectified": rectified},
            )


def row(report: dict[str, Any], code: str) -> dict[str, Any]:
    return next(r for r in report["league"]["items"] if r["code"] == code)


async def test_monthly_accidents_against_last_year(client: httpx.AsyncClient, known: None) -> None:
    r = await client.get("/v1/reports/monthly", params={"date": "2025-09-30", "admin_code": "37"})
    assert r.status_code == 200, r.text
    rep = r.json()
    acc = rep["accidents"]
    assert (acc["total"], acc["injured"], acc["killed"], acc["major"]) == (4, 4, 3, 1)
    assert acc["by_severity"] == {"property_only": 1, "injury": 2, "fatal": 1}
    assert (acc["rural"], acc["rural_share"], acc["ebike"], acc["ebike_share"]) == (2, 0.5, 2, 0.5)
    assert sum(acc["by_hour"]) == 4 and acc["by_hour"][8] == 4
    last = acc["last_year"]
    assert (last["accidents"], last["injured"], last["killed"], last["major"]) == (6, 7, 3, 0)
    assert last["from"].startswith("2024-09-01T00:00:00+08:00") and last["to"].startswith("2024-10-01")
    assert acc["change_pct"] == {"accidents": -33.3, "injured": -42.9, "killed": 0.0, "major": None}
    # deaths held level, not down: the province misses the three declines
    assert acc["three_declines"] == {"accidents": True, "injured": True, "killed": False, "all": False}


async def test_league_table_and_assessment(client: httpx.AsyncClient, known: None) -> None:
    rep = (await client.get("/v1/reports/monthly", params={"date": "2025-09-01", "admin_code": "37"})).json()
    table = rep["league"]
    assert table["level"] == "city" and len(table["items"]) == 16  # every city, quiet ones too
    jinan, qingdao = row(rep, "3701"), row(rep, "3702")
    assert (jinan["name"], jinan["accidents"], jinan["accidents_last_year"]) == ("Jinan", 3, 4)
    assert (jinan["injured"], jinan["killed"], jinan["killed_last_year"], jinan["major"]) == (3, 3, 1, 1)
    assert (jinan["three_declines"], qingdao["three_declines"]) == (False, True)
    assert (jinan["raised"], jinan["handled"], jinan["road_management_rate"]) == (2, 1, 0.5)
    assert (jinan["sign_for_rate"], jinan["feedback_rate"]) == (1.0, 1.0)
    assert jinan["hazards_found"] == 1  # the one created in August is not this month's
    assert (jinan["hazards_rectified"], jinan["hazards_open"], jinan["hazards_overdue"]) == (1, 1, 1)
    # Qingdao: every decline earns its full weight (60); operations have nothing to measure (20)
    assert qingdao["assessment"] == {
        "score": 80.0,
        "safety": 60.0,
        "operations": 20.0,
        "points": {
            "accidents_decline": 15.0,
            "injured_decline": 15.0,
            "killed_decline": 20.0,
            "no_major_accident": 10.0,
            "road_management_rate": 7.5,
            "sign_for_rate": 2.5,
            "feedback_rate": 2.5,
            "hazard_rectification": 5.0,
            "hazards_on_time": 2.5,
        },
    }
    # Jinan: accidents 15 × 0.75, injured 15 × 0.9, deaths up and a major accident: nothing
    points = jinan["assessment"]["points"]
    assert (points["accidents_decline"], points["injured_decline"]) == (11.25, 13.5)
    assert (points["killed_decline"], points["no_major_accident"]) == (0.0, 0.0)
    assert (points["road_management_rate"], points["sign_for_rate"], points["feedback_rate"]) == (
        7.5,
        5.0,
        5.0,
    )
    assert jinan["assessment"]["safety"] == 24.8
    assert table["items"][-1]["code"] == "3701" and jinan["rank"] == 16
    assert qingdao["rank"] == 1
    # the total is the sum of the rows
    total = table["total"]
    assert (total["accidents"], total["raised"], total["hazards_found"]) == (4, 2, 1)
    assert rep["assessment"] == total["assessment"]
    assert rep["hazards"] == {"workflow": True, "found": 1, "rectified": 1, "open": 1, "overdue": 1}


async def test_daily_and_weekly_same_period_last_year(client: httpx.AsyncClient, known: None) -> None:
    day = (await client.get("/v1/reports/daily", params={"date": "2025-09-10", "admin_code": "3701"})).json()
    assert (day["accidents"]["total"], day["accidents"]["last_year"]["accidents"]) == (1, 4)
    assert day["accidents"]["last_year"]["from"].startswith("2024-09-10")
    assert day["league"]["level"] == "county"
    assert [r["code"] for r in day["league"]["items"]] == ["370102"]
    week = (
        await client.get("/v1/reports/weekly", params={"date": "2025-09-15", "admin_code": "3701"})
    ).json()
    # the week of Monday 15 September 2025 against the week of Monday 16 September 2024 (52 weeks)
    assert week["accidents"]["last_year"]["from"].startswith("2024-09-16")
    assert (week["accidents"]["total"], week["accidents"]["last_year"]["accidents"]) == (2, 0)
    assert [(r["code"], r["accidents"]) for r in week["league"]["items"]] == [("370102", 1), ("370112", 1)]


async def test_scoped_to_the_callers_jurisdiction(client_for: Any, known: None) -> None:
    async with client_for(role="city_commander", jur="3702") as qingdao:
        own = (await qingdao.get("/v1/reports/monthly", params={"date": "2025-09-01"})).json()
        assert own["admin_code"] == "3702" and own["accidents"]["total"] == 1
        assert [r["code"] for r in own["league"]["items"]] == ["370202"]
        r = await qingdao.get("/v1/reports/monthly", params={"date": "2025-09-01", "admin_code": "3701"})
        assert r.status_code == 403
        # a wider filter narrows to the caller's own jurisdiction
        r = await qingdao.get("/v1/reports/monthly.csv", params={"date": "2025-09-01", "admin_code": "37"})
        assert r.status_code == 200 and "qzx-monthly-3702-" in r.headers["content-disposition"]
        codes = [line.split(",")[1] for line in r.text.removeprefix("\ufeff").splitlines()[1:]]
        assert codes == ["370202", "3702"]


async def test_league_csv(client: httpx.AsyncClient, known: None) -> None:
    r = await client.get("/v1/reports/monthly.csv", params={"date": "2025-09-01", "admin_code": "37"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="qzx-monthly-37-20250901.csv"' in r.headers["content-disposition"]
    body = r.content.decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))
    header, items, total = rows[0], rows[1:-1], rows[-1]
    assert header[:4] == ["排名 rank", "区划代码 code", "名称 name", "考核得分 score"]
    # Jinan's two hazards are open (identified), none past a deadline: rectification 0, on time 5
    assert len(items) == 16 and items[0][0] == "1" and items[-1][:4] == ["16", "3701", "Jinan", "47.2"]
    jinan = dict(zip(header, items[-1], strict=True))
    assert (jinan["事故起数 accidents"], jinan["去年同期起数 accidents last year"]) == ("3", "4")
    assert (jinan["三下降 three declines"], jinan["见警管事率 road management rate"]) == ("否 no", "0.5")
    assert (
        total[0] == "合计 total"
        and total[1] == "37"
        and dict(zip(header, total, strict=True))["事故起数 accidents"] == "4"
    )


async def test_monthly_png_has_the_accident_panels(client: httpx.AsyncClient, known: None) -> None:
    r = await client.get("/v1/reports/monthly.png", params={"date": "2025-09-01", "admin_code": "37"})
    assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"


async def test_every_accident_is_kept_as_a_fact(alerts: Any) -> None:
    """The consumer's path: a property-only accident is no alert, but the reports count it."""
    report = accident("prop-1", SEP - timedelta(days=400), JINAN, "property_only")
    s = alerts.state.service.scoring
    async with alerts.state.runtime.engine.begin() as conn:
        written = await apply_accidents(conn, reports=[report, report], rules=s.rules)
        stored = (
            await conn.execute(
                text(
                    "SELECT severity, admin_code FROM alerts.accident_facts WHERE accident_id = 'asx-prop-1'"
                )
            )
        ).all()
    assert written == 0 and [tuple(r) for r in stored] == [("property_only", "370102")]


def test_same_period_last_year() -> None:
    from qzx_alerts.reports.league import year_before

    assert year_before("daily", date(2028, 2, 29)) == date(2027, 2, 28)
    assert year_before("monthly", date(2026, 3, 1)) == date(2025, 3, 1)
    assert year_before("weekly", date(2026, 3, 9)) == date(2025, 3, 10)  # Monday to Monday
