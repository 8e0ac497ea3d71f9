"""Black spots end to end: accidents and violations arrive on their topics, a commander runs the
analysis in the background, its proposals are new hazards (增量) or evidence for known ones (存量),
and a person confirms or rejects each, within their jurisdiction."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import text

from qzx_alerts.blackspots import cells
from qzx_common.topics import ACCIDENTS_ACCEPTED
from qzx_dev.samples import make_accident, make_event
from qzx_dev.testing import Stack

pytestmark = [pytest.mark.db]

MARCH = datetime(2024, 3, 1, 8, tzinfo=UTC)
COUNTY = "370202"
JUNCTION = (36.0600, 120.3300)  # four accidents on four days: new
KNOWN = (36.0700, 120.3500)  # three on three days at a hazard already in the ledger: stock
PILE_UP = (36.0800, 120.3700)  # three on one day: no black spot
BUSY = (36.0650, 120.3900)  # two on two days where 300 violations were counted


def _accident(lat: float, lon: float, day: int) -> dict[str, Any]:
    return make_accident(
        accident_id=f"370202-BS-{uuid.uuid4().hex[:12]}",
        occurred_at=MARCH + timedelta(days=day, hours=day % 5),
        location={"lat": lat, "lon": lon, "admin_code": COUNTY, "road": "S219", "km": 3.0},
        severity="property_only",
        injured=0,
        vehicles=[{"plate": None, "vehicle_class": "car"}],
        ebike_involved=False,
    )


async def _eventually(query: str, params: dict[str, Any], alerts: Any, want: int) -> None:
    for _ in range(300):
        async with alerts.state.runtime.engine.connect() as conn:
            if (await conn.execute(text(query), params)).scalar_one() >= want:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not reached: {query} >= {want}")


@pytest.fixture(scope="module")
async def known_world(alerts: Any, stack: Stack, producer: Any, send: Any, client: httpx.AsyncClient) -> str:
    """The module's accidents and violations, consumed; returns the known hazard's id."""
    r = await client.post(
        "/v1/hazards",
        json={
            "name": "弯道 bend",
            "lat": KNOWN[0],
            "lon": KNOWN[1],
            "radius_m": 200,
            "risk_level": "high",
            "admin_code": COUNTY,
            "status": "stock",
        },
    )
    assert r.status_code == 201, r.text
    accidents = (
        [_accident(JUNCTION[0] + 0.0001 * i, JUNCTION[1], day=i) for i in range(4)]
        + [_accident(KNOWN[0], KNOWN[1] + 0.0001 * i, day=2 * i) for i in range(3)]
        + [_accident(PILE_UP[0] + 0.0001 * i, PILE_UP[1], day=5) for i in range(3)]
        + [_accident(BUSY[0], BUSY[1], day=1), _accident(BUSY[0] + 0.00005, BUSY[1], day=20)]
    )
    for a in accidents:
        await producer.send(
            stack.topic_prefix + ACCIDENTS_ACCEPTED, orjson.dumps(a), key=a["accident_id"].encode()
        )
    await producer.flush()
    violations = [
        orjson.dumps(
            make_event(
                captured_at=MARCH + timedelta(days=i % 28, minutes=i),
                device_id="370202-CK-BS01",
                location={"lat": BUSY[0], "lon": BUSY[1], "admin_code": COUNTY, "road": "S219", "km": 3.0},
            )
        )
        for i in range(300)
    ]
    await send(*violations)
    ids = [a["accident_id"] for a in accidents]
    await _eventually(
        "SELECT count(*) FROM alerts.accident_facts WHERE accident_id = ANY(:ids)",
        {"ids": ids},
        alerts,
        len(ids),
    )
    lat_q, lon_q = cells.cell_of(*BUSY)
    await _eventually(
        "SELECT coalesce(sum(violations), 0) FROM alerts.violation_cells WHERE lat_q = :a AND lon_q = :o "
        "AND day >= '2024-03-01' AND day < '2024-04-01'",
        {"a": lat_q, "o": lon_q},
        alerts,
        300,
    )
    return str(r.json()["id"])


async def _run(c: httpx.AsyncClient) -> dict[str, Any]:
    r = await c.post(
        "/v1/blackspots/runs",
        json={
            "admin_code": COUNTY,
            "since": MARCH.isoformat(),
            "until": (MARCH + timedelta(days=31)).isoformat(),
        },
    )
    assert r.status_code == 202, r.text
    run = r.json()
    assert run["status"] == "queued"
    for _ in range(300):
        run = (await c.get(f"/v1/blackspots/runs/{run['id']}")).json()
        if run["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.1)
    assert run["status"] == "done", run
    return dict(run)


async def test_a_run_proposes_new_and_known_black_spots(
    known_world: str, client_for: Any, client: httpx.AsyncClient
) -> None:
    async with client_for(role="city_commander", jur="3702", sub="qd-boss") as boss:
        run = await _run(boss)
        assert run["progress"] == 1.0 and run["accidents"] >= 12 and run["violation_cells"] >= 1
        listed = (await boss.get("/v1/blackspots/proposals", params={"run_id": run["id"]})).json()["items"]
    assert run["proposals"] == len(listed) == 3
    by_place = {(round(p["lat"], 3), round(p["lon"], 3)): p for p in listed}
    junction, known, busy = (by_place[(round(a, 3), round(o, 3))] for a, o in (JUNCTION, KNOWN, BUSY))
    assert (junction["ledger"], junction["accidents"], junction["hazard_id"]) == ("new", 4, None)
    assert (known["ledger"], known["hazard_id"], known["accidents"]) == ("stock", known_world, 3)
    assert busy["accidents"] == 2 and busy["violations"] == 300
    assert listed[0]["id"] == junction["id"]  # ranked: most accidents first
    assert all(p["decision"] == "pending" and p["admin_code"] == COUNTY for p in listed)


async def test_confirm_and_reject(alerts: Any, known_world: str, client_for: Any) -> None:
    async with client_for(role="city_commander", jur="3702", sub="qd-boss") as boss:
        run = await _run(boss)
        listed = (await boss.get("/v1/blackspots/proposals", params={"run_id": run["id"]})).json()["items"]
        new = next(p for p in listed if p["ledger"] == "new" and p["accidents"] == 4)
        stock = next(p for p in listed if p["ledger"] == "stock")
        other = next(p for p in listed if p["id"] not in (new["id"], stock["id"]))

        r = await boss.post(
            f"/v1/blackspots/proposals/{new['id']}/confirm",
            json={"name": "十字路口 crossroads", "hazard_type": "junction"},
        )
        assert r.status_code == 200, r.text
        hazard_id = r.json()["hazard_id"]
        assert r.json()["proposal"]["decision"] == "confirmed"
        hazard = (await boss.get(f"/v1/hazards/{hazard_id}")).json()
        assert (hazard["state"], hazard["status"], hazard["name"]) == (
            "identified",
            "new",
            "十字路口 crossroads",
        )
        assert hazard["hazard_type"] == "junction" and hazard["admin_code"] == COUNTY
        history = (await boss.get(f"/v1/hazards/{hazard_id}/history")).json()["items"]
        assert [h["kind"] for h in history] == ["identify"] and history[0]["detail"]["accidents"] == 4
        r = await boss.post(f"/v1/blackspots/proposals/{new['id']}/confirm", json={})
        assert r.status_code == 409 and r.json()["error"] == "proposal_decided"

        r = await boss.post(f"/v1/blackspots/proposals/{stock['id']}/confirm", json={"note": "又发生3起"})
        assert r.status_code == 200 and r.json()["hazard_id"] == known_world
        history = (await boss.get(f"/v1/hazards/{known_world}/history")).json()["items"]
        assert history[-1]["kind"] == "evidence" and history[-1]["detail"]["proposal_id"] == stock["id"]

        assert (await boss.post(f"/v1/blackspots/proposals/{other['id']}/reject", json={})).status_code == 422
        r = await boss.post(
            f"/v1/blackspots/proposals/{other['id']}/reject", json={"note": "施工期间 roadworks"}
        )
        assert r.status_code == 200 and r.json()["proposal"]["decision"] == "rejected"
        pending = (
            await boss.get("/v1/blackspots/proposals", params={"run_id": run["id"], "decision": "pending"})
        ).json()["items"]
        assert pending == []

    async with alerts.state.runtime.engine.connect() as conn:
        actions = (
            (
                await conn.execute(
                    text("SELECT action FROM alerts.audit_log WHERE target_id = ANY(:ids) ORDER BY id"),
                    {"ids": [run["id"], new["id"], stock["id"], other["id"]]},
                )
            )
            .scalars()
            .all()
        )
    assert actions == ["blackspot.run", "blackspot.confirm", "blackspot.confirm", "blackspot.reject"]


async def test_runs_and_proposals_stay_in_their_jurisdiction(known_world: str, client_for: Any) -> None:
    async with client_for(role="city_commander", jur="3702") as boss:
        run = await _run(boss)
        (first, *_) = (await boss.get("/v1/blackspots/proposals", params={"run_id": run["id"]})).json()[
            "items"
        ]
    async with client_for(role="city_commander", jur="3701") as jinan:
        assert (await jinan.get(f"/v1/blackspots/runs/{run['id']}")).status_code == 404
        listed = (await jinan.get("/v1/blackspots/proposals", params={"run_id": run["id"]})).json()["items"]
        assert listed == []
        assert (
            await jinan.post(f"/v1/blackspots/proposals/{first['id']}/confirm", json={})
        ).status_code == 404
        r = await jinan.post(
            "/v1/blackspots/runs",
            json={
                "admin_code": COUNTY,
                "since": MARCH.isoformat(),
                "until": (MARCH + timedelta(days=1)).isoformat(),
            },
        )
        assert r.status_code == 403 and r.json()["error"] == "out_of_jurisdiction"
    # Black spots are a county-and-above tool (accident facts carry county codes): a township
    # neither runs one nor sees the county's proposals, only the hazards assigned to it.
    async with client_for(role="city_commander", jur=COUNTY + "001") as town:
        r = await town.post(
            "/v1/blackspots/runs",
            json={
                "admin_code": COUNTY,
                "since": MARCH.isoformat(),
                "until": (MARCH + timedelta(days=1)).isoformat(),
            },
        )
        assert r.status_code == 403 and r.json()["error"] == "blackspots_county_and_above"
        assert (await town.get("/v1/blackspots/proposals", params={"run_id": run["id"]})).json()[
            "items"
        ] == []
    async with client_for(role="dispatcher", jur="3702") as dispatcher:
        r = await dispatcher.post("/v1/blackspots/runs", json={})
        assert r.status_code == 403
    async with client_for(role="province_commander", jur="37") as province:
        r = await province.post(
            "/v1/blackspots/runs",
            json={
                "admin_code": "37",
                "since": MARCH.isoformat(),
                "until": (MARCH + timedelta(days=400)).isoformat(),
            },
        )
        assert r.status_code == 422


async def test_violations_redelivered_are_counted_once(alerts: Any) -> None:
    lat, lon = 36.0333, 120.4111
    values = [
        orjson.dumps(make_event(captured_at=MARCH, location={"lat": lat, "lon": lon, "admin_code": COUNTY}))
        for _ in range(5)
    ]
    topic = f"test-redelivery-{uuid.uuid4().hex[:8]}"
    records = [ConsumerRecord(topic, 0, i, 0, 0, None, v, None, 0, len(v), []) for i, v in enumerate(values)]
    for batch in (records, records, records[3:]):
        async with alerts.state.runtime.engine.begin() as conn:
            await cells.apply(conn, batch)
    lat_q, lon_q = cells.cell_of(lat, lon)
    async with alerts.state.runtime.engine.connect() as conn:
        counted = (
            await conn.execute(
                text(
                    "SELECT violations FROM alerts.violation_cells WHERE day = '2024-03-01' AND lat_q = :a AND lon_q = :o"
                ),
                {"a": lat_q, "o": lon_q},
            )
        ).scalar_one()
    assert counted == 5
    bad = ConsumerRecord(topic, 1, 0, 0, 0, None, b"{}", None, 0, 2, [])
    with pytest.raises(cells.RecordsRejected) as rejected:
        async with alerts.state.runtime.engine.begin() as conn:
            await cells.apply(conn, [*records, bad])
    assert list(rejected.value.reasons) == [5]


async def test_a_replayed_dead_letter_is_not_counted_again(alerts: Any) -> None:
    """`qzx dlq replay` sends a letter's bytes back with ``qzx-replay-of``, at a new offset: the
    event was counted when it first passed (another consumer dead-lettered it), so not again."""
    lat, lon = 36.0444, 120.4222
    value = orjson.dumps(
        make_event(captured_at=MARCH, location={"lat": lat, "lon": lon, "admin_code": COUNTY})
    )
    other = orjson.dumps(
        make_event(captured_at=MARCH, location={"lat": lat, "lon": lon, "admin_code": COUNTY})
    )
    topic = f"test-replay-{uuid.uuid4().hex[:8]}"
    replay_of = [("qzx-replay-of", b"alerts/42")]
    first = ConsumerRecord(topic, 0, 0, 0, 0, None, value, None, 0, len(value), [])
    replayed = ConsumerRecord(topic, 0, 1, 0, 0, None, value, None, 0, len(value), replay_of)
    garbage = ConsumerRecord(topic, 0, 2, 0, 0, None, b"{}", None, 0, 2, replay_of)  # skipped, not rejected
    new = ConsumerRecord(topic, 0, 3, 0, 0, None, other, None, 0, len(other), [])
    counted_per_batch = []
    for batch in ([first], [replayed, garbage], [replayed, new]):
        async with alerts.state.runtime.engine.begin() as conn:
            counted_per_batch.append(await cells.apply(conn, batch))
    assert counted_per_batch == [1, 0, 1]
    lat_q, lon_q = cells.cell_of(lat, lon)
    async with alerts.state.runtime.engine.connect() as conn:
        counted = (
            await conn.execute(
                text(
                    "SELECT violations FROM alerts.violation_cells WHERE day = '2024-03-01' AND lat_q = :a AND lon_q = :o"
                ),
                {"a": lat_q, "o": lon_q},
            )
        ).scalar_one()
    assert counted == 2
