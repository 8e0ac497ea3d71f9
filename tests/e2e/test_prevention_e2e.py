"""End to end, the rest of issue 20's "Done when" through the real stack (accidents reported over
HTTP to ingest → accidents.accepted.v1 → alerts): a property-only accident on a main road goes to
quick handling and its road-clear time is reported; a cluster of accidents proposes a hazard that a
commander confirms, assigns to a township with a deadline and sees escalate when it is overdue; the
monthly report shows the three declines and the city league table for a known data set.

Each part has its own county and period, used by no other end-to-end test (the e2e system's
database is shared by the session)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import orjson
import pytest
from e2e_harness import System

from qzx_common.contracts.samples import make_accident
from qzx_common.topics import GROUPS
from qzx_dev.testing import eventually

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.timeout(120)]

CST = timezone(timedelta(hours=8))
FUSHAN = {"lat": 37.496, "lon": 121.267, "admin_code": "370611", "road": "G206", "km": 31.2}  # Yantai
WEICHENG = "370702"  # 潍城区, Weifang
WEICHENG_TOWNSHIP = "370702001"  # 城关街道
JUNCTION = {"lat": 36.7100, "lon": 119.1000, "admin_code": WEICHENG, "road": "X012", "km": 2.0}


def accident(prefix: str, **over: Any) -> dict[str, Any]:
    return make_accident(
        accident_id=f"{prefix}-E2E-{uuid.uuid4().hex[:12]}",
        vehicles=[{"plate": None, "vehicle_class": "car"}],
        ebike_involved=False,
        **over,
    )


async def report_all(ingest: httpx.AsyncClient, accidents: list[dict[str, Any]]) -> None:
    for a in accidents:
        r = await ingest.post("/v1/accidents", content=orjson.dumps(a))
        assert r.status_code == 201, r.text


async def test_a_property_only_accident_on_a_main_road_is_quick_handled_and_its_clear_time_reported(
    system: System,
) -> None:
    ingest = system.client("ingest", role="dispatcher", jur="3706")
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    minor = accident("370611", occurred_at=at, location=FUSHAN, severity="property_only", injured=0)
    await report_all(ingest, [minor])
    case = (await ingest.get(f"/v1/accidents/{minor['accident_id']}")).json()
    assert case["quick_handling"]["status"] == "open", case

    window = {
        "admin_code": "370611",
        "since": (at - timedelta(seconds=1)).isoformat(),
        "until": (at + timedelta(seconds=1)).isoformat(),
    }
    r = await ingest.get("/v1/accidents/quick-handling", params=window)
    assert (r.json()["open"], r.json()["closed"]) == (1, 0), r.text

    cleared = at + timedelta(minutes=25)
    r = await ingest.post(
        f"/v1/accidents/{minor['accident_id']}/quick-handling/close",
        json={"outcome": "agreed", "road_cleared_at": cleared.isoformat(), "note": "协商一致 agreed"},
    )
    assert r.status_code == 200, r.text
    summary = (await ingest.get("/v1/accidents/quick-handling", params=window)).json()
    assert summary == {
        "open": 0,
        "closed": 1,
        "agreed": 1,
        "clear_s_median": 1500.0,
        "clear_s_p90": 1500.0,
        "clear_s_max": 1500,
    }


async def test_a_cluster_of_accidents_becomes_a_hazard_assigned_to_a_township_that_escalates_overdue(
    system: System,
) -> None:
    february = datetime(2023, 2, 6, 7, 30, tzinfo=CST)
    cluster = [
        accident(
            WEICHENG,
            occurred_at=february + timedelta(days=day, hours=day),
            location=JUNCTION | {"lat": JUNCTION["lat"] + 0.0001 * day},
            severity="property_only",
            injured=0,
        )
        for day in range(4)
    ]
    await report_all(system.client("ingest", role="dispatcher", jur="37"), cluster)
    ids = sorted(a["accident_id"] for a in cluster)

    commander = system.client("alerts", role="city_commander", jur="3707", sub="wf-commander")
    period = {
        "since": datetime(2023, 2, 1, tzinfo=CST).isoformat(),
        "until": datetime(2023, 3, 1, tzinfo=CST).isoformat(),
    }

    async def proposal() -> dict[str, Any] | None:
        """A finished run over February whose proposal holds all four accidents (the facts arrive
        on the topic, so a run may start before the last one is stored: run again then)."""
        r = await commander.post("/v1/blackspots/runs", json={"admin_code": WEICHENG, **period})
        assert r.status_code == 202, r.text
        run = r.json()
        while run["status"] in ("queued", "running"):
            await asyncio.sleep(0.1)
            run = (await commander.get(f"/v1/blackspots/runs/{run['id']}")).json()
        assert run["status"] == "done", run
        items = (await commander.get("/v1/blackspots/proposals", params={"run_id": run["id"]})).json()[
            "items"
        ]
        return next((p for p in items if sorted(p["accident_ids"]) == ids), None)

    found = await eventually(proposal, timeout=30, interval=0.5)
    assert (found["ledger"], found["decision"], found["accidents"]) == ("new", "pending", 4)

    r = await commander.post(
        f"/v1/blackspots/proposals/{found['id']}/confirm",
        json={"name": "城关路口 Chengguan junction", "hazard_type": "junction", "note": "四起事故"},
    )
    assert r.status_code == 200, r.text
    hazard_id = r.json()["hazard_id"]
    hazard = (await commander.get(f"/v1/hazards/{hazard_id}")).json()
    assert (hazard["state"], hazard["owner_code"]) == ("identified", WEICHENG)

    deadline = datetime.now(UTC) + timedelta(seconds=2)
    r = await commander.post(
        f"/v1/hazards/{hazard_id}/assign",
        json={
            "owner_code": WEICHENG_TOWNSHIP,
            "responsible_body": "城关街道办事处 Chengguan street office",
            "responsible_person": "李强",
            "deadline": deadline.isoformat(),
            "note": "加装信号灯 add signals",
        },
    )
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["owner_code"], r.json()["escalated_at"]) == (
        "assigned",
        WEICHENG_TOWNSHIP,
        None,
    )

    # The overdue check (every 0.5 s here) escalates it past its deadline, to the county above.
    async def supervised() -> dict[str, Any] | None:
        items = (await commander.get("/v1/hazards/supervision")).json()["items"]
        return next((h for h in items if h["id"] == hazard_id), None)

    listed = await eventually(supervised, timeout=20, interval=0.25)
    assert listed["supervised_by"] == WEICHENG
    assert datetime.fromisoformat(listed["escalated_at"]) >= deadline
    history = (await commander.get(f"/v1/hazards/{hazard_id}/history")).json()["items"]
    assert [h["kind"] for h in history][-2:] == ["assign", "escalate"]
    assert history[-1]["actor"] == "system:hazard-overdue-check"
    # The township sees its own overdue hazard on its supervision list.
    town = system.client("alerts", role="city_commander", jur=WEICHENG_TOWNSHIP, sub="cg-town")
    assert hazard_id in {h["id"] for h in (await town.get("/v1/hazards/supervision")).json()["items"]}


# The known data set: May 2022 against May 2021 in Weifang (3707) and Yantai (3706), X roads (no
# quick handling). Weifang: 2 accidents, 1 injured, 0 killed (last year 3, 3, 1): three declines.
# Yantai: 2 accidents, 2 injured, 1 killed (last year 1, 1, 0): no decline.
MAY = datetime(2022, 5, 10, 9, tzinfo=CST)
LAST_MAY = datetime(2021, 5, 12, 9, tzinfo=CST)
WEIFANG = {"lat": 36.707, "lon": 119.162, "admin_code": "370702", "road": "X101", "km": 1.0}
YANTAI = {"lat": 37.464, "lon": 121.448, "admin_code": "370602", "road": "X201", "km": 1.0}
KNOWN = [
    (MAY, WEIFANG, "injury", 1, 0),
    (MAY + timedelta(days=3), WEIFANG, "property_only", 0, 0),
    (LAST_MAY, WEIFANG, "injury", 2, 0),
    (LAST_MAY + timedelta(days=1), WEIFANG, "fatal", 1, 1),
    (LAST_MAY + timedelta(days=2), WEIFANG, "property_only", 0, 0),
    (MAY + timedelta(days=1), YANTAI, "fatal", 1, 1),
    (MAY + timedelta(days=2), YANTAI, "injury", 1, 0),
    (LAST_MAY, YANTAI, "injury", 1, 0),
]


async def test_the_monthly_report_shows_the_three_declines_and_the_city_league(system: System) -> None:
    reports = [
        accident(where["admin_code"], occurred_at=at, location=where, severity=sev, injured=inj, killed=k)
        for at, where, sev, inj, k in KNOWN
    ]
    await report_all(system.client("ingest", role="dispatcher", jur="37"), reports)
    province = system.client("alerts")

    async def consumed() -> dict[str, Any] | None:
        """The province's May report once alerts has stored all eight facts (they arrive on the topic)."""
        r = await province.get("/v1/reports/monthly", params={"date": "2022-05-20", "admin_code": "37"})
        assert r.status_code == 200, r.text
        acc = r.json()["accidents"]
        return r.json() if acc["total"] + acc["last_year"]["accidents"] >= len(KNOWN) else None

    rep = await eventually(consumed, timeout=30, interval=0.25)
    acc = rep["accidents"]
    assert (acc["total"], acc["injured"], acc["killed"]) == (4, 3, 1)
    last = acc["last_year"]
    assert (last["accidents"], last["injured"], last["killed"]) == (4, 4, 1)
    assert last["from"].startswith("2021-05-01T00:00:00+08:00")
    assert acc["three_declines"] == {"accidents": False, "injured": True, "killed": False, "all": False}

    table = rep["league"]
    assert table["level"] == "city" and len(table["items"]) == 16
    rows = {row["code"]: row for row in table["items"]}
    weifang, yantai = rows["3707"], rows["3706"]
    assert (weifang["accidents"], weifang["accidents_last_year"]) == (2, 3)
    assert (weifang["injured"], weifang["killed"], weifang["killed_last_year"]) == (1, 0, 1)
    assert (yantai["accidents"], yantai["accidents_last_year"]) == (2, 1)
    assert (weifang["three_declines"], yantai["three_declines"]) == (True, False)

    r = await province.get("/v1/reports/monthly", params={"date": "2022-05-20", "admin_code": "3707"})
    own = r.json()["accidents"]
    assert own["three_declines"] == {"accidents": True, "injured": True, "killed": True, "all": True}


async def test_every_running_consumer_group_is_one_reconcile_checks(system: System) -> None:
    """`qzx reconcile` reads the lag of the groups in GROUPS: each group a service runs is there,
    with the topic it consumes."""
    running = {r.group_id.removeprefix(system.topic_prefix): r.topics for r in system.runners()}
    assert running == {g: [system.topic(t)] for g, t in GROUPS.items()}
