"""A dispatcher dispatches a waiting alert from the ranked recommendations, with a reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from .conftest import OffsetClock, Org, assign, make_alert

pytestmark = [pytest.mark.db]
Api = Callable[..., httpx.AsyncClient]


async def test_a_waiting_alert_is_dispatched_to_a_recommended_unit_with_the_reason(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    alert = make_alert()
    assert await assign(fresh, alert, clock=clock) == "pending"  # no unit on duty yet
    near = await org.unit(lat=36.652)
    far = await org.unit(lat=36.75)
    dispatcher = api(role="dispatcher", jur="3701")
    rec = (await dispatcher.get(f"/v1/dispatch/recommendations/{alert.id}")).json()
    assert rec["state"] == "pending" and rec["waiting_reason"] and rec["active_task_id"] is None
    assert [r["unit_id"] for r in rec["ranked"]] == [near, far]  # nearest first
    assert rec["ranked"][0]["travel_s"] < rec["ranked"][1]["travel_s"]
    assert "breathalyser" in rec["needs"] and rec["enforcement"] is True

    auditor = api(role="auditor", jur="3701")
    assert (await auditor.get(f"/v1/dispatch/recommendations/{alert.id}")).status_code == 200
    body = {"alert_id": alert.id, "unit_id": far, "reason": "near unit is at the hospital"}
    assert (await auditor.post("/v1/dispatch", json=body)).status_code == 403
    other_city = api(role="dispatcher", jur="3702")
    assert (await other_city.get(f"/v1/dispatch/recommendations/{alert.id}")).status_code == 404
    assert (await other_city.post("/v1/dispatch", json=body)).status_code == 404
    assert (await dispatcher.post("/v1/dispatch", json=body | {"reason": "x"})).status_code == 422

    r = await dispatcher.post("/v1/dispatch", json=body)
    assert r.status_code == 200, r.text
    task = r.json()["task"]
    assert task["unit_id"] == far and task["status"] == "assigned"
    assert task["reason"] == "near unit is at the hospital (by p-dispatcher)"
    again = await dispatcher.post("/v1/dispatch", json=body | {"unit_id": near})
    assert again.status_code == 409 and again.json()["error"] == "alert_has_task"
    after = (await dispatcher.get(f"/v1/dispatch/recommendations/{alert.id}")).json()
    assert after["state"] == "handled" and after["active_task_id"] == task["id"]
    async with fresh.state.runtime.sessions() as s:
        actor = await s.scalar(
            text("SELECT actor FROM dispatch.audit_log WHERE action = 'task.dispatch' AND target_id = :t"),
            {"t": task["id"]},
        )
    assert actor == "p-dispatcher"


async def test_a_unit_that_cannot_take_the_alert_is_refused_with_the_rule(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    alert = make_alert()
    assert await assign(fresh, alert, clock=clock) == "pending"
    no_kit = await org.unit(capabilities=("weighing",))
    dispatcher = api(role="dispatcher", jur="3701")
    r = await dispatcher.post("/v1/dispatch", json={"alert_id": alert.id, "unit_id": no_kit, "reason": "try"})
    assert (
        r.status_code == 409 and r.json()["error"] == "no_unit" and "lacks breathalyser" in r.json()["detail"]
    )


async def test_a_dispatcher_escalates_an_active_task_once_with_the_reason(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    await org.unit()
    alert = make_alert()
    assert await assign(fresh, alert, clock=clock) == "assigned"
    dispatcher = api(role="dispatcher", jur="3701")
    [task] = (await dispatcher.get("/v1/tasks", params={"alert_id": alert.id})).json()["items"]
    body = {"task_id": task["id"], "reason": "suspect fled towards the motorway"}
    assert (await api(role="auditor", jur="3701").post("/v1/dispatch/escalate", json=body)).status_code == 403
    assert (
        await api(role="dispatcher", jur="3702").post("/v1/dispatch/escalate", json=body)
    ).status_code == 404
    r = await dispatcher.post("/v1/dispatch/escalate", json=body)
    assert r.status_code == 200, r.text
    up = r.json()["task"]
    assert up["escalated"] is True and up["version"] == task["version"] + 1 and up["status"] == "assigned"
    assert up["reason"] == "suspect fled towards the motorway (by p-dispatcher)"
    again = await dispatcher.post("/v1/dispatch/escalate", json=body)
    assert again.status_code == 409 and again.json()["error"] == "already_escalated"
