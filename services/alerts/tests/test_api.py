"""Console API: filters, keyset pagination, jurisdiction, dismissal, hotlists, hazards, SSE resume."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

pytestmark = [pytest.mark.db]

HEZE = {"lat": 35.23, "lon": 115.48, "admin_code": "371702", "road": "G35", "km": 5.0}
YANTAI = {"lat": 37.46, "lon": 121.45, "admin_code": "370602", "road": "G18", "km": 7.0}


@pytest.fixture(scope="module")
async def seeded(alerts: Any, score: Any, make: Any) -> dict[str, Any]:
    """30 single-event alerts: 20 in Heze (10 drunk P1, 10 red-light), 10 in Yantai (wrong way)."""
    base = datetime.now(UTC) - timedelta(hours=1)
    values = []
    for i in range(30):
        at = base + timedelta(seconds=i * 7)
        if i < 10:
            values.append(
                make.accepted(
                    plate=make.plate(), location=HEZE, captured_at=at, measurements={"bac_mg_100ml": 120}
                )
            )
        elif i < 20:
            values.append(
                make.accepted(
                    plate=make.plate(), location=HEZE, captured_at=at, violation="red_light", measurements={}
                )
            )
        else:
            values.append(
                make.accepted(
                    plate=make.plate(),
                    location=YANTAI,
                    captured_at=at,
                    violation="wrong_way",
                    measurements={},
                )
            )
    result = await score(values)
    assert result.new == 30 and result.alerts_written == 30
    return {"since": base}


async def test_filters_and_keyset_pagination(client: httpx.AsyncClient, seeded: dict[str, Any]) -> None:
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"admin_code": "371702", "limit": 6}
        if cursor:
            params["cursor"] = cursor
        body = (await client.get("/v1/alerts", params=params)).json()
        seen += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 20 and len({a["id"] for a in seen}) == 20
    keys = [(a["last_seen"], a["id"]) for a in seen]
    assert keys == sorted(keys, reverse=True)

    drunk = (
        await client.get("/v1/alerts", params={"admin_code": "3717", "violation": "drunk_driving"})
    ).json()
    assert len(drunk["items"]) == 10 and all(a["violations"] == ["drunk_driving"] for a in drunk["items"])
    p1 = (await client.get("/v1/alerts", params={"admin_code": "371702", "priority": "P1"})).json()["items"]
    assert {a["id"] for a in p1} == {a["id"] for a in drunk["items"]}
    new = (
        await client.get("/v1/alerts", params={"admin_code": "3706", "status": "new", "limit": 500})
    ).json()
    assert len(new["items"]) == 10 and all(a["admin_code"] == "370602" for a in new["items"])
    none = (await client.get("/v1/alerts", params={"admin_code": "3706", "status": "resolved"})).json()
    assert none == {"items": [], "next_cursor": None}


async def test_jurisdiction_scopes_every_read(client_for: Any, seeded: dict[str, Any]) -> None:
    async with client_for(role="dispatcher", jur="3706", sub="d-yt") as yantai:
        items = (await yantai.get("/v1/alerts", params={"limit": 500})).json()["items"]
        assert items and all(a["admin_code"].startswith("3706") for a in items)
        r = await yantai.get("/v1/alerts", params={"admin_code": "3717"})
        assert r.status_code == 403 and r.json()["error"] == "out_of_jurisdiction"
        narrowed = (await yantai.get("/v1/alerts", params={"admin_code": "37"})).json()["items"]
        assert {a["id"] for a in narrowed} == {a["id"] for a in items[:50]}
    async with client_for(role="province_commander") as province:
        heze = (await province.get("/v1/alerts", params={"admin_code": "371702", "limit": 1})).json()[
            "items"
        ][0]
    async with client_for(role="dispatcher", jur="3706", sub="d-yt") as yantai:
        r = await yantai.get(f"/v1/alerts/{heze['id']}")
        assert r.status_code == 404 and r.json()["error"] == "alert_not_found"
        r = await yantai.post(f"/v1/alerts/{heze['id']}/dismiss", json={"reason": "not ours anyway"})
        assert r.status_code == 404
    async with client_for(role="patrol_officer", jur="3717") as patrol:
        r = await patrol.get("/v1/alerts")
        assert r.status_code == 403 and r.json()["error"] == "role_forbidden"
    async with client_for(role="auditor", jur="37") as auditor:
        r = await auditor.post(f"/v1/alerts/{heze['id']}/dismiss", json={"reason": "auditors only read"})
        assert r.status_code == 403


async def test_dismiss_is_audited_and_published(
    alerts: Any, client: httpx.AsyncClient, seeded: dict[str, Any]
) -> None:
    target = (await client.get("/v1/alerts", params={"admin_code": "370602", "limit": 1})).json()["items"][0]
    r = await client.post(f"/v1/alerts/{target['id']}/dismiss", json={"reason": "  "})
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    r = await client.post(f"/v1/alerts/{target['id']}/dismiss", json={"reason": "sensor test vehicle"})
    body = r.json()
    assert r.status_code == 200 and body["status"] == "dismissed" and body["version"] == target["version"] + 1
    async with alerts.state.runtime.engine.connect() as conn:
        audit = (
            await conn.execute(
                text("SELECT actor, action, after FROM alerts.audit_log WHERE target_id = :id"),
                {"id": target["id"]},
            )
        ).all()
        change = (
            await conn.execute(
                text("SELECT count(*) FROM alerts.alert_changes WHERE alert_id = :id"), {"id": target["id"]}
            )
        ).scalar_one()
    assert [(a.actor, a.action, a.after["reason"]) for a in audit] == [
        ("p-1", "alert.dismiss", "sensor test vehicle")
    ]
    assert change == 2  # created, dismissed


async def test_sse_resumes_from_last_event_id_without_gaps(
    alerts: Any, score: Any, make: Any, server: str, sse: Any, bearer: Any
) -> None:
    async with alerts.state.runtime.engine.connect() as conn:
        start = (
            await conn.execute(text("SELECT coalesce(max(id), 0) FROM alerts.alert_changes"))
        ).scalar_one()
    plates = [make.plate() for _ in range(6)]
    # Two batches in different transactions while nobody listens.
    await score([make.accepted(plate=p, location=HEZE) for p in plates[:3]])
    await score([make.accepted(plate=p, location=HEZE) for p in plates[3:]])

    def has_all(events: list[tuple[int, dict[str, Any]]]) -> bool:
        return set(plates) <= {e["plate"] for _, e in events}

    everything = await sse(server, bearer(), until=has_all, last_event_id=start)
    ids = [i for i, _ in everything]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    mine = [(i, e["plate"]) for i, e in everything if e["plate"] in plates]
    assert {p for _, p in mine} == set(plates) and len(mine) == 6
    third = mine[2][0]  # disconnect after the third, in log order
    rest = {p for _, p in mine[3:]}
    resumed = await sse(
        server, bearer(), until=lambda e: rest <= {x["plate"] for _, x in e}, last_event_id=third
    )
    assert [(i, e["plate"]) for i, e in resumed if e["plate"] in plates] == mine[3:]
    assert [i for i, _ in resumed] == [i for i in ids if i > third][: len(resumed)]  # no gaps
    # A city token's stream carries its city only.
    city = await sse(
        server, bearer(role="dispatcher", jur="3706"), until=lambda e: len(e) >= 1, last_event_id=0
    )
    assert all(e["admin_code"].startswith("3706") for _, e in city)


async def test_streams_share_one_read_of_the_change_log(
    alerts: Any, score: Any, make: Any, server: str, sse: Any, bearer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tail = alerts.state.service.change_tail
    monkeypatch.setattr(tail, "keep", 4)  # the kept entries roll over within this test
    heze, yantai = [make.plate() for _ in range(6)], [make.plate() for _ in range(3)]
    ready = [asyncio.Event() for _ in range(12)]

    def reader(n: int, jur: str, plates: list[str]) -> Any:
        wanted = set(plates)
        return sse(
            server,
            bearer(role="dispatcher", jur=jur),
            until=lambda e: wanted <= {x["plate"] for _, x in e},
            started=ready[n],
        )

    # Twelve consoles from the tail on: ten for the province, two for Heze's city.
    readers = [asyncio.create_task(reader(n, "37", heze + yantai)) for n in range(10)]
    readers += [asyncio.create_task(reader(n, "3717", heze)) for n in (10, 11)]
    await asyncio.gather(*(r.wait() for r in ready))
    assert (REGISTRY.get_sample_value("qzx_alerts_sse_streams") or 0) >= 12
    reads = tail.reads
    for batch in (heze[:3], heze[3:], yantai):
        await score([make.accepted(plate=p, location=YANTAI if p in yantai else HEZE) for p in batch])
    streams = await asyncio.gather(*readers)

    for events in streams[:10]:
        mine = [e["plate"] for _, e in events if e["plate"] in heze + yantai]
        assert sorted(mine) == sorted(heze + yantai)
        assert [i for i, _ in events] == sorted({i for i, _ in events})
    for events in streams[10:]:
        assert {e["plate"] for _, e in events} >= set(heze)
        assert all(e["admin_code"].startswith("3717") for _, e in events)
    # Three commits, twelve streams: a read per stream and wake-up would be 36 or more.
    assert tail.reads - reads <= 12
    # A console that comes back from before what the tail keeps reads the log itself, without gaps.
    first = min(i for i, e in streams[0] if e["plate"] in heze) - 1
    assert tail.floor is not None and first < tail.floor
    again = await sse(
        server, bearer(), until=lambda e: set(yantai) <= {x["plate"] for _, x in e}, last_event_id=first
    )
    assert [i for i, _ in again] == [i for i, _ in streams[0] if i > first][: len(again)]


async def test_hotlist_crud_merge_covert_and_floor(
    alerts: Any, score: Any, make: Any, client: httpx.AsyncClient, client_for: Any
) -> None:
    plate = make.plate()
    entry = {
        "plate": plate,
        "priority": "P1",
        "reason": "armed robbery suspect",
        "covert": True,
    }
    r = await client.post("/v1/hotlists", json=entry | {"source": "exchange:ministry"})
    assert r.status_code == 422 and "source" in r.json()["detail"]  # the server names the source
    r = await client.post("/v1/hotlists", json=entry)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["reason"] == "armed robbery suspect" and created["admin_code"] == "370000"
    r = await client.post("/v1/hotlists", json=entry)  # same source and plate: merged, not duplicated
    assert r.status_code == 200 and r.json()["id"] == created["id"]
    r = await client.post("/v1/hotlists", json={**entry, "plate": "nonsense"})
    assert r.status_code == 422 and "plate" in r.json()["detail"]
    r = await client.post("/v1/hotlists", json={**entry, "expires_at": "2020-01-01T00:00:00+08:00"})
    assert r.status_code == 422 and "expires_at" in r.json()["detail"]

    async with client_for(role="dispatcher", jur="3701", sub="d-jn") as dispatcher:
        items = (await dispatcher.get("/v1/hotlists", params={"plate": plate})).json()["items"]
        assert [(i["id"], i["covert"], i["reason"], i["source"]) for i in items] == [
            (created["id"], True, None, None)
        ]
        r = await dispatcher.post("/v1/hotlists", json=entry)
        assert r.status_code == 403
    async with client_for(role="city_commander", jur="3701", sub="c-jn") as city:
        items = (await city.get("/v1/hotlists", params={"plate": plate})).json()["items"]
        assert items[0]["reason"] == "armed robbery suspect"
        r = await city.delete(f"/v1/hotlists/{created['id']}")  # a province entry: not the city's to delete
        assert r.status_code == 403

    # The hotlist floor: a minor violation of the plate becomes P1, the why keeps the secret.
    await score([make.accepted(plate=plate, violation="red_light", measurements={})])
    (alert,) = (await client.get("/v1/alerts", params={"plate": plate})).json()["items"]
    hot = next(f for f in alert["factors"] if f["name"] == "hotlist")
    assert alert["priority"] == "P1" and "robbery" not in hot["why"]

    r = await client.delete(f"/v1/hotlists/{created['id']}")
    assert r.status_code == 204
    assert (await client.get("/v1/hotlists", params={"plate": plate})).json()["items"] == []
    async with alerts.state.runtime.engine.connect() as conn:
        actions = (
            (
                await conn.execute(
                    text("SELECT action FROM alerts.audit_log WHERE target_id = :id ORDER BY id"),
                    {"id": created["id"]},
                )
            )
            .scalars()
            .all()
        )
    assert actions == ["hotlist.create", "hotlist.update", "hotlist.delete"]


async def test_hazard_crud_validation_and_factor(
    alerts: Any, score: Any, make: Any, client: httpx.AsyncClient, client_for: Any
) -> None:
    point = {
        "name": "school gate",
        "lat": 37.47,
        "lon": 121.46,
        "radius_m": 300,
        "risk_level": "high",
        "admin_code": "370602",
    }
    r = await client.post("/v1/hazards", json=point | {"risk_level": "extreme"})
    assert r.status_code == 422 and "risk_level" in r.json()["detail"]
    r = await client.post("/v1/hazards", json=point | {"lat": 50})
    assert r.status_code == 422
    r = await client.post("/v1/hazards", json=point)
    assert r.status_code == 201
    hazard = r.json()
    assert hazard["status"] == "new"
    r = await client.patch(f"/v1/hazards/{hazard['id']}", json={"status": "stock"})
    assert r.status_code == 200 and r.json()["status"] == "stock"
    async with client_for(role="city_commander", jur="3701") as jinan:
        assert (await jinan.get(f"/v1/hazards/{hazard['id']}")).status_code == 404
        assert (await jinan.post("/v1/hazards", json=point)).status_code == 403
    listed = (await client.get("/v1/hazards", params={"admin_code": "3706", "status": "stock"})).json()[
        "items"
    ]
    assert hazard["id"] in {h["id"] for h in listed}

    await asyncio.sleep(0.05)  # the cache refresh runs after the response
    await score(
        [make.accepted(plate=(plate := make.plate()), location=YANTAI | {"lat": 37.4705, "lon": 121.4605})],
    )
    (alert,) = (await client.get("/v1/alerts", params={"plate": plate})).json()["items"]
    hz = next(f for f in alert["factors"] if f["name"] == "hazard")
    assert hz["value"] == hazard["id"] and hz["contribution"] == 12

    assert (await client.delete(f"/v1/hazards/{hazard['id']}")).status_code == 204
    assert (await client.get(f"/v1/hazards/{hazard['id']}")).status_code == 404
    async with alerts.state.runtime.engine.connect() as conn:
        actions = (
            (
                await conn.execute(
                    text("SELECT action FROM alerts.audit_log WHERE target_id = :id ORDER BY id"),
                    {"id": hazard["id"]},
                )
            )
            .scalars()
            .all()
        )
    assert actions == ["hazard.create", "hazard.update", "hazard.delete"]


async def test_errors_are_precise(client: httpx.AsyncClient, alerts: Any) -> None:
    assert (await client.get("/v1/alerts/nope")).json()["error"] == "alert_not_found"
    r = await client.get("/v1/alerts", params={"cursor": "garbage!"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_cursor"
    r = await client.get("/v1/alerts", params={"priority": "P9"})
    assert r.status_code == 422 and "priority" in r.json()["detail"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=alerts), base_url="http://a") as anon:
        assert (await anon.get("/v1/alerts")).status_code == 401
