"""End to end: an accident reported over HTTP to ingest → accidents.accepted.v1 → alerts → dispatch,
over the real broker and database (issue 20, "Done when": an injury accident reported through the
API becomes a P1 alert with a task)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest
from e2e_harness import System, new_plate

from qzx_dev.samples import make_accident
from qzx_dev.testing import eventually

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.timeout(240)]


async def accident_alerts(alerts: httpx.AsyncClient, accident_id: str) -> list[dict[str, Any]]:
    """The accident alerts about ``accident_id`` (an accident alert's dedup key is its accident, so
    the plate filter, which walks the plates' keys, does not find it)."""
    r = await alerts.get("/v1/alerts", params={"kind": "accident", "admin_code": "370102", "limit": 500})
    assert r.status_code == 200, r.text
    return [a for a in r.json()["items"] if a["event_ids"] == [accident_id]]


def report(plate: str, **over: Any) -> dict[str, Any]:
    return make_accident(
        accident_id=f"370102-A-{uuid.uuid4().hex[:12]}",
        vehicles=[{"plate": plate, "vehicle_class": "car"}],
        ebike_involved=False,
        **over,
    )


async def test_an_injury_accident_reported_becomes_a_p1_alert_with_a_task(system: System) -> None:
    plate = new_plate("D")
    accident = report(plate, road_feature="level_crossing")
    ingest = system.client("ingest", role="dispatcher", jur="3701")
    alerts, dispatch = system.client("alerts"), system.client("dispatch")
    r = await ingest.post("/v1/accidents", content=orjson.dumps(accident))
    assert r.status_code == 201, r.text

    async def dispatched() -> list[dict[str, Any]]:
        found = await accident_alerts(alerts, accident["accident_id"])
        return found if found and found[0]["task_id"] else []

    [alert] = await eventually(dispatched, timeout=30)
    assert (alert["kind"], alert["priority"], alert["event_ids"]) == (
        "accident",
        "P1",
        [accident["accident_id"]],
    )
    factors = {f["name"]: f for f in alert["factors"]}
    assert factors["accident_severity"]["value"] == "injury"
    assert factors["road_feature"]["value"] == "level_crossing"
    assert (
        "伤人事故" in factors["accident_severity"]["why"]
        and "injury accident" in factors["accident_severity"]["why"]
    )
    assert factors["dispatch_needs"]["value"] == "ambulance_liaison,traffic_control"
    task = (await dispatch.get(f"/v1/tasks/{alert['task_id']}")).json()
    assert task["alert_id"] == alert["id"] and task["priority"] == "P1"
    assert "needs ambulance_liaison, traffic_control" in task["summary"]

    # The same report again: stored once, so no second alert and no second task.
    again = await ingest.post("/v1/accidents", content=orjson.dumps(accident))
    assert again.json()["duplicate"] is True
    await system.settled()
    assert [a["id"] for a in await accident_alerts(alerts, accident["accident_id"])] == [alert["id"]]


async def test_a_property_only_accident_is_not_an_alert(system: System) -> None:
    ingest = system.client("ingest", role="dispatcher", jur="3701")
    alerts = system.client("alerts")
    minor = report(new_plate("D"), severity="property_only", injured=0)
    assert (await ingest.post("/v1/accidents", content=orjson.dumps(minor))).status_code == 201
    fatal = report(new_plate("D"), severity="fatal", killed=3, injured=1)
    assert (await ingest.post("/v1/accidents", content=orjson.dumps(fatal))).status_code == 201
    await eventually(lambda: accident_alerts(alerts, fatal["accident_id"]), timeout=30)
    await system.settled()
    assert await accident_alerts(alerts, minor["accident_id"]) == []
    [major] = await accident_alerts(alerts, fatal["accident_id"])
    assert major["priority"] == "P1"
    assert {"accident_severity", "major_accident"} <= {f["name"] for f in major["factors"]}
