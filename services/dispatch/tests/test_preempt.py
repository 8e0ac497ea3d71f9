"""Pre-emption: a P1 that no free unit can take takes the best unit holding lower-priority work;
the displaced task is cancelled with the reason, its alert goes back to the pending queue and is
retried, and both tasks' histories name the other."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from .conftest import OffsetClock, Org, assign, make_alert

pytestmark = [pytest.mark.db]
Api = Callable[..., httpx.AsyncClient]


async def _only_task(client: httpx.AsyncClient, alert_id: str, status: str = "assigned") -> dict[str, Any]:
    items = (await client.get("/v1/tasks", params={"alert_id": alert_id, "status": status})).json()["items"]
    assert len(items) == 1, items
    return dict(items[0])


async def test_a_p1_takes_the_unit_of_a_p3_and_the_p3_goes_back_to_the_queue(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    unit = await org.unit()
    low = make_alert(priority="P3", violations=["speeding"], score=55.0)
    assert await assign(fresh, low, clock=clock) == "assigned"
    dispatcher = api(role="dispatcher", jur="3701")
    displaced = await _only_task(dispatcher, low.id)
    urgent = make_alert()
    assert await assign(fresh, urgent, clock=clock) == "assigned"
    taken = await _only_task(dispatcher, urgent.id)
    assert taken["unit_id"] == unit
    after = (await dispatcher.get(f"/v1/tasks/{displaced['id']}")).json()
    assert after["status"] == "cancelled" and after["reason"] == f"pre-empted by P1 alert {urgent.id}"
    # Both histories tell the story, each naming the other task.
    old_events = (await dispatcher.get(f"/v1/tasks/{displaced['id']}/events")).json()["items"]
    kinds = {e["kind"]: e for e in old_events}
    assert sorted(kinds) == ["preempted", "requeued"]
    assert kinds["preempted"]["detail"]["by_task_id"] == taken["id"]
    [new_event] = (await dispatcher.get(f"/v1/tasks/{taken['id']}/events")).json()["items"]
    assert new_event["kind"] == "preempting" and new_event["detail"]["displaced_task_id"] == displaced["id"]
    # The unit's phone learns its P3 task was cancelled, and receives the P1.
    phone = api(role="patrol_officer", jur="3701", unit_id=unit, sub=org.member(unit))
    seen = {t["id"]: t["status"] for t in (await phone.get("/v1/patrol/tasks")).json()["tasks"]}
    assert seen == {displaced["id"]: "cancelled", taken["id"]: "assigned"}
    # The P3 waits for a unit; when one comes on duty the watcher gives it the alert again.
    assert (await fresh.state.service.watcher.tick())["pending:pending"] >= 1  # retried, still no unit
    spare = await org.unit(lat=36.70)
    assert (await fresh.state.service.watcher.tick())["pending:assigned"] == 1
    assert (await _only_task(dispatcher, low.id))["unit_id"] == spare


async def test_no_preemption_of_equal_priority_on_scene_work_or_when_switched_off(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    first = await org.unit()
    second = await org.unit(lat=36.70)
    assert await assign(fresh, make_alert(), clock=clock) == "assigned"  # a P1 on the first unit
    p2 = make_alert(priority="P2", score=75.0)
    assert await assign(fresh, p2, clock=clock) == "assigned"  # the second
    on_scene = api(role="patrol_officer", jur="3701", unit_id=second, sub=org.member(second))
    task = (await on_scene.get("/v1/patrol/tasks")).json()["tasks"][0]
    for step, body in (("sign", None), ("status", {"status": "on_scene"})):
        assert (await on_scene.post(f"/v1/patrol/tasks/{task['id']}/{step}", json=body)).status_code == 200
    # Another P1: the first unit's P1 is equal, the second unit is on scene: it waits.
    assert await assign(fresh, make_alert(), clock=clock) == "pending"
    settings = fresh.state.settings
    assert first != second
    # A P2 may not pre-empt unless switched on; nor may a P1 when pre-emption is off.
    third = await org.unit(lat=36.72)
    low = make_alert(priority="P4", violations=["speeding"], score=30.0)
    assert await assign(fresh, low, clock=clock) == "assigned"
    assert await assign(fresh, make_alert(priority="P2", score=75.0), clock=clock) == "pending"
    settings.preempt = False
    try:
        assert await assign(fresh, make_alert(), clock=clock) == "pending"
    finally:
        settings.preempt = True
    settings.preempt_p2 = True
    try:
        p2_again = make_alert(priority="P2", score=75.0)
        assert await assign(fresh, p2_again, clock=clock) == "assigned"
        dispatcher = api(role="dispatcher", jur="3701")
        assert (await _only_task(dispatcher, p2_again.id))["unit_id"] == third
    finally:
        settings.preempt_p2 = False


async def test_the_consumers_batch_intake_preempts_and_keeps_a_requeued_alert_in_the_queue(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    """Through the batch path: a P1 no free unit suits takes the P3's unit, and the P3's next
    version (``new`` again, from alerts) leaves it pending rather than handled by its old task."""
    from qzx_common.db import transaction
    from qzx_dispatch.tasks.intake_batch import intake_batch

    from .conftest import bump

    unit = await org.unit()
    low = make_alert(priority="P3", violations=["speeding"], score=55.0)
    urgent = make_alert()

    async def batch(*alerts: Any) -> Any:
        async with transaction(fresh.state.runtime.sessions) as s:
            return await intake_batch(s, alerts=list(alerts), settings=fresh.state.settings, now=clock.now())

    assert (await batch(low))["assigned"] == 1
    assert (await batch(urgent))["assigned"] == 1
    dispatcher = api(role="dispatcher", jur="3701")
    assert (await _only_task(dispatcher, urgent.id))["unit_id"] == unit
    assert (await batch(bump(low, count=2)))["pending"] == 1
    [waiting] = (await dispatcher.get("/v1/dispatch/pending")).json()["items"]
    assert waiting["alert_id"] == low.id and waiting["requeued"] is True
