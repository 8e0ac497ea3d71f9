"""Checkpoint watch end to end (ingest → alerts → dispatch), over the real broker and database:
passages enter on camera.passages.v1 as a checkpoint sends them; hotlist hits and cloned plates
are read where the outside world reads them (HTTP)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from e2e_harness import CST, System, device, new_plate
from sqlalchemy import text

from qzx_common.topics import CAMERA_PASSAGES
from qzx_dev.testing import eventually

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.timeout(240)]


def passage_at(device_id: str, plate: str, at: datetime, **extra: Any) -> dict[str, Any]:
    d = device(device_id)
    return {
        "passage_id": f"{device_id}-{uuid.uuid4().hex[:12]}",
        "device_id": device_id,
        "captured_at": at.astimezone(CST).isoformat(timespec="milliseconds"),
        "plate": plate,
        "plate_color": "blue",
        "vehicle_class": "car",
        "direction": "NE",
        "speed_kmh": 92,
        "location": {"lat": d.lat, "lon": d.lon, "admin_code": d.admin_code, "road": d.road, "km": d.km},
        **extra,
    }


async def checkpoint(system: System, *passages: dict[str, Any]) -> None:
    for p in passages:
        await system.producer.send_and_wait(
            system.topic(CAMERA_PASSAGES), orjson.dumps(p), key=p["device_id"].encode()
        )


async def alerts_of(system: System, plate: str, kind: str) -> list[dict[str, Any]]:
    r = await system.client("alerts").get("/v1/alerts", params={"plate": plate, "kind": kind})
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def hotlist(system: System, plate: str, **entry: Any) -> None:
    body = {"plate": plate, "priority": "P1", "reason": "wanted for a hit-and-run", **entry}
    r = await system.client("alerts").post("/v1/hotlists", json=body)
    assert r.status_code in (200, 201), r.text


async def test_a_hotlisted_plate_passing_a_checkpoint_raises_its_alert_and_a_task(system: System) -> None:
    wanted, covert, yellow_only = new_plate("A"), new_plate("A"), new_plate("A")
    await hotlist(system, wanted)
    await hotlist(system, covert, covert=True, priority="P2")
    await hotlist(system, yellow_only, plate_color="yellow")
    now = datetime.now(CST)
    # The matcher hears of new entries from the change log within about a second: the passages
    # are sent until the first hit shows that it has.
    sent = [passage_at("370102-CK-0001", wanted, now)]
    await checkpoint(system, sent[0])

    async def hit() -> list[dict[str, Any]]:
        found = await alerts_of(system, wanted, "hotlist_hit")
        if not found:
            sent.append(passage_at("370102-CK-0001", wanted, datetime.now(CST)))
            await checkpoint(system, sent[-1])
        return found

    (alert,) = await eventually(hit, timeout=20, interval=0.5)
    assert alert["priority"] == "P1" and alert["kind"] == "hotlist_hit"  # the entry's floor
    factors = {f["name"]: f for f in alert["factors"]}
    assert factors["direction"]["value"] == "NE" and factors["heading_deg"]["value"] == 45
    assert "hit-and-run" in factors["hotlist"]["why"]
    assert set(alert["event_ids"]) <= {p["passage_id"] for p in sent}

    # Dispatch makes a task for it, as for any alert: a unit that can intercept.
    dispatch = system.client("dispatch", role="dispatcher", jur="37")

    async def tasks() -> list[dict[str, Any]]:
        r = await dispatch.get("/v1/tasks", params={"alert_id": alert["id"]})
        return r.json()["items"]  # type: ignore[no-any-return]

    (task,) = await eventually(tasks, timeout=20, interval=0.1)
    assert task["priority"] == "P1"

    # Covert: the alert is raised (reason withheld), and no task goes to a patrol app.
    await checkpoint(system, passage_at("370102-CK-0001", covert, datetime.now(CST)))
    # A colour given must match: the blue plate passes, unmatched.
    await checkpoint(system, passage_at("370102-CK-0001", yellow_only, datetime.now(CST)))
    (hidden,) = await eventually(lambda: alerts_of(system, covert, "hotlist_hit"), timeout=20, interval=0.2)
    assert hidden["priority"] == "P2"
    assert [f["value"] for f in hidden["factors"] if f["name"] == "hotlist"] == ["covert"]
    # Commanders only: a dispatcher neither lists nor opens it (the open hit stays visible to them).
    desk = system.client("alerts", role="dispatcher", jur="37")
    listed = (await desk.get("/v1/alerts", params={"plate": covert})).json()["items"]
    assert listed == [] and (await desk.get(f"/v1/alerts/{hidden['id']}")).status_code == 404
    assert (await desk.get(f"/v1/alerts/{alert['id']}")).status_code == 200
    async with system.dispatch.state.runtime.engine.connect() as conn:

        async def recorded() -> Any:
            return (
                await conn.execute(
                    text("SELECT state, last_reason FROM dispatch.alerts WHERE alert_id = :a"),
                    {"a": hidden["id"]},
                )
            ).first()

        state = await eventually(recorded, timeout=20, interval=0.1)
    assert state.state == "handled" and "covert" in state.last_reason
    r = await dispatch.get("/v1/tasks", params={"alert_id": hidden["id"]})
    assert r.json()["items"] == []
    assert await alerts_of(system, yellow_only, "hotlist_hit") == []


async def test_a_plate_at_two_checkpoints_faster_than_possible_is_plate_fraud(system: System) -> None:
    plate = new_plate("A")
    at = datetime.now(CST) - timedelta(minutes=20)
    jinan = passage_at("370102-CK-0001", plate, at)
    qingdao = passage_at("370202-CK-0001", plate, at + timedelta(minutes=10))
    await checkpoint(system, jinan, qingdao)

    async def frauds() -> list[dict[str, Any]]:
        found = await alerts_of(system, plate, "plate_fraud")
        return sorted(found, key=lambda a: a["admin_code"]) if len(found) >= 2 else []

    found = await eventually(frauds, timeout=20, interval=0.1)
    for fraud, own in zip(found, (jinan, qingdao), strict=True):
        assert fraud["priority"] == "P1" and fraud["event_ids"] == [own["passage_id"]]
        why = " ".join(f["why"] for f in fraud["factors"])
        assert "Jinan" in why and "Qingdao" in why and "10.0 min" in why, fraud["factors"]
