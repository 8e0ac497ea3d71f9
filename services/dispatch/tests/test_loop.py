"""The closed loop: sign-by and feedback deadlines with a controllable clock, manual reassign,
and the dispatcher's task list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from .conftest import OffsetClock, Org, assign, make_alert

pytestmark = [pytest.mark.db]
Api = Callable[..., httpx.AsyncClient]


async def test_a_missed_sign_by_moves_the_task_to_the_next_best_unit_and_escalates(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    first = await org.unit(lat=36.652)
    second = await org.unit(lat=36.70)
    alert = make_alert(sign_deadline_s=45)
    await assign(fresh, alert, clock=clock)
    dispatcher = api(role="dispatcher", jur="3701")
    [task] = (await dispatcher.get("/v1/tasks", params={"alert_id": alert.id})).json()["items"]
    assert task["unit_id"] == first
    clock.advance(44)
    assert not await fresh.state.service.watcher.tick()  # not due yet
    clock.advance(2)
    done = await fresh.state.service.watcher.tick()
    assert done == {"sign_by:reassigned": 1}
    items = (await dispatcher.get("/v1/tasks", params={"alert_id": alert.id})).json()["items"]
    new, old = items  # newest first
    assert old["id"] == task["id"] and old["status"] == "reassigned" and old["escalated"] is True
    assert old["reason"] == f"sign-by missed by unit {first}"
    assert new["unit_id"] == second and new["status"] == "assigned" and new["escalated"] is True
    assert new["previous_task_id"] == old["id"]
    # The next unit misses too, and nobody else is left: escalated in place, with a fresh sign-by.
    clock.advance(46)
    assert await fresh.state.service.watcher.tick() == {"sign_by:escalated_in_place": 1}
    detail = (await dispatcher.get(f"/v1/tasks/{new['id']}")).json()
    assert detail["status"] == "assigned" and "no other unit" in detail["reason"]
    async with fresh.state.runtime.sessions() as s:
        audit = await s.scalar(
            text(
                "SELECT count(*) FROM dispatch.audit_log WHERE actor = 'system:deadline-watcher' "
                "AND target_id = ANY(:ids)"
            ),
            {"ids": [old["id"], new["id"]]},
        )
    assert audit == 2


async def test_a_missed_feedback_deadline_escalates_once(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    unit = await org.unit()
    await assign(fresh, make_alert(feedback_deadline_s=600), clock=clock)
    phone = api(role="patrol_officer", jur="3701", unit_id=unit, sub=org.member(unit))
    task = (await phone.get("/v1/patrol/tasks")).json()["tasks"][0]
    assert (await phone.post(f"/v1/patrol/tasks/{task['id']}/sign")).status_code == 200
    clock.advance(599)
    assert not await fresh.state.service.watcher.tick()
    clock.advance(2)
    assert await fresh.state.service.watcher.tick() == {"feedback_by:escalated": 1}
    assert not await fresh.state.service.watcher.tick()
    after = (await phone.get("/v1/patrol/tasks", params={"cursor": 2})).json()["tasks"][0]
    assert after["escalated"] is True and after["status"] == "signed" and after["version"] == 3


async def test_manual_reassign_to_a_named_unit_checks_the_rules(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    first = await org.unit()
    no_kit = await org.unit(lat=36.7, capabilities=("weighing",))
    good = await org.unit(lat=36.8)
    alert = make_alert()
    await assign(fresh, alert, clock=clock)
    dispatcher = api(role="dispatcher", jur="3701")
    [task] = (await dispatcher.get("/v1/tasks", params={"alert_id": alert.id})).json()["items"]
    r = await dispatcher.post(f"/v1/tasks/{task['id']}/reassign", json={"reason": "x"})
    assert r.status_code == 422  # a reason is required
    r = await dispatcher.post(
        f"/v1/tasks/{task['id']}/reassign", json={"reason": "try it", "unit_id": no_kit}
    )
    assert r.status_code == 409 and "lacks breathalyser" in r.json()["detail"]
    r = await dispatcher.post(
        f"/v1/tasks/{task['id']}/reassign", json={"reason": "crew change", "unit_id": good}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["previous"]["status"] == "reassigned" and body["previous"]["unit_id"] == first
    assert body["task"]["unit_id"] == good and body["task"]["escalated"] is False
    assert body["task"]["reason"] == "crew change (by p-dispatcher)"
    r = await dispatcher.post(f"/v1/tasks/{task['id']}/reassign", json={"reason": "again"})
    assert r.status_code == 409 and r.json()["error"] == "task_closed"
    other_city = api(role="dispatcher", jur="3702")
    assert (
        await other_city.post(f"/v1/tasks/{body['task']['id']}/reassign", json={"reason": "mine"})
    ).status_code == 404
    patrol = api(role="patrol_officer", jur="3701", unit_id=good, sub=org.member(good))
    assert (
        await patrol.post(f"/v1/tasks/{body['task']['id']}/reassign", json={"reason": "mine"})
    ).status_code == 403


async def test_task_list_filters_and_keyset_pagination(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    for i in range(7):
        await org.unit(lat=36.6 + i * 0.01)
    alerts = [make_alert(priority="P1" if i % 2 else "P2") for i in range(7)]
    for a in alerts:
        await assign(fresh, a, clock=clock)
    dispatcher = api(role="dispatcher", jur="37")
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = (await dispatcher.get("/v1/tasks", params=params)).json()
        seen += [t["alert_id"] for t in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(a.id for a in alerts) and len(seen) == 7
    p1 = (await dispatcher.get("/v1/tasks", params={"priority": "P1"})).json()["items"]
    assert {t["alert_id"] for t in p1} == {a.id for a in alerts if a.priority == "P1"}
    assert (await dispatcher.get("/v1/tasks", params={"status": "signed"})).json()["items"] == []
    assert (await api(role="dispatcher", jur="3702").get("/v1/tasks")).json()["items"] == []
    bad = await dispatcher.get("/v1/tasks", params={"cursor": "nonsense"})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_cursor"
    detail = (await dispatcher.get(f"/v1/tasks/{p1[0]['id']}")).json()
    assert detail["reasons"]["chosen"]["unit_id"] == p1[0]["unit_id"]
