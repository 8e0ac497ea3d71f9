"""Dispatch actions that reach across a city line: a person's action touches only the units that
person sees (reassignment, shift plans), and what dispatch does to a task on its own is audited
under the task's admin code, so the auditor of the task's city sees it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sec_support import bearer, client_for
from sec_world import JINAN_SPOT, Org, intake, make_alert, somewhere_near, task_for

from qzx_common.contracts.alerts import Alert

pytestmark = [pytest.mark.db]

JN = bearer("dispatcher", "3701")
PROVINCE = bearer("province_commander")


@pytest.fixture(scope="module")
async def dispatch(dispatch_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(dispatch_app, timeout=30) as c:
        yield c


async def _moving_task(dispatch_app: Any, dispatch: httpx.AsyncClient) -> tuple[dict[str, Any], Any]:
    """A Jinan plate-fraud task (a moving target: units of neighbouring cities are eligible) held
    by a Jinan unit, and a Zibo unit that waits at the target, nearer than any other."""
    org = Org(dispatch_app)
    spot = somewhere_near(JINAN_SPOT)
    await org.unit(spot)
    alert = make_alert(spot, kind="plate_fraud", violations=["fake_plate"])
    assert await intake(dispatch_app, alert) == "assigned"
    task = await task_for(dispatch, alert.id)
    assert task is not None
    # Zibo (3703) lies within dispatch's neighbour radius of Jinan; this unit waits at the target.
    zibo = await org.unit(spot | {"admin_code": "370302"})
    return task, zibo


async def test_a_city_cannot_reassign_its_task_to_a_unit_of_another_city(
    dispatch_app: Any, dispatch: httpx.AsyncClient
) -> None:
    task, zibo = await _moving_task(dispatch_app, dispatch)
    try:
        r = await dispatch.post(
            f"/v1/tasks/{task['id']}/reassign", json={"reason": "closer", "unit_id": zibo["unit"]}, headers=JN
        )
        assert (r.status_code, r.json().get("error")) == (422, "unknown_unit"), r.text
        after = (await dispatch.get(f"/v1/tasks/{task['id']}", headers=PROVINCE)).json()
        assert (after["status"], after["unit_id"]) == ("assigned", task["unit_id"])
        # The province sees both cities: it may hand the task to Zibo.
        r = await dispatch.post(
            f"/v1/tasks/{task['id']}/reassign",
            json={"reason": "mutual aid", "unit_id": zibo["unit"]},
            headers=PROVINCE,
        )
        assert r.status_code == 200 and r.json()["task"]["unit_id"] == zibo["unit"], r.text
    finally:
        await Org(dispatch_app).drop_roster(zibo["roster"])


async def test_a_city_reassigning_without_naming_a_unit_gets_one_it_sees(
    dispatch_app: Any, dispatch: httpx.AsyncClient
) -> None:
    task, zibo = await _moving_task(dispatch_app, dispatch)
    try:
        # The next best is chosen among the units the caller sees: never the Zibo unit, although
        # it is the nearest.
        r = await dispatch.post(f"/v1/tasks/{task['id']}/reassign", json={"reason": "next"}, headers=JN)
        if r.status_code == 200:
            new = r.json()["task"]["unit_id"]
            unit = (await dispatch.get(f"/v1/units/{new}", headers=PROVINCE)).json()
            assert new != zibo["unit"] and unit["admin_code"].startswith("3701"), unit
        else:
            assert (r.status_code, r.json()["error"]) == (409, "no_unit"), r.text
    finally:
        await Org(dispatch_app).drop_roster(zibo["roster"])


async def test_a_shift_plan_is_applied_only_to_units_the_caller_sees(
    dispatch_app: Any, dispatch: httpx.AsyncClient
) -> None:
    # An enforcing Jinan unit, free on the plan's day: outside the view of a jur=370100 commander,
    # who sees the city's own code 370100 but none of its districts.
    unit = (await Org(dispatch_app).unit(somewhere_near(JINAN_SPOT), on_duty=False))["unit"]
    narrow = bearer("city_commander", "370100")
    plan = {"admin_code": "370100", "demand": [1, 1], "shift_hours": 2, "start_date": "2032-03-07"}
    r = await dispatch.post("/v1/shift-plans", json=plan, headers=narrow)
    assert r.status_code == 201, r.text
    r = await dispatch.post(f"/v1/shift-plans/{r.json()['id']}/apply", headers=narrow)
    assert r.status_code == 200, r.text
    assert r.json()["rosters_created"] == 0 and r.json()["unfilled"], r.json()
    r = await dispatch.get("/v1/rosters", params={"unit_id": unit}, headers=PROVINCE)
    assert r.json()["items"] == []


async def _audited(dispatch: httpx.AsyncClient, jur: str, task_id: str) -> list[str]:
    r = await dispatch.get("/v1/audit", params={"target_id": task_id}, headers=bearer("auditor", jur))
    assert r.status_code == 200, r.text
    return sorted(e["action"] for e in r.json()["items"])


async def test_system_task_changes_are_audited_under_the_tasks_city(
    dispatch_app: Any, dispatch: httpx.AsyncClient
) -> None:
    spot = somewhere_near(JINAN_SPOT)
    await Org(dispatch_app).unit(spot)
    alert = make_alert(spot)
    assert await intake(dispatch_app, alert) == "assigned"
    task = await task_for(dispatch, alert.id)
    assert task is not None
    dismissed = Alert.model_validate(
        alert.model_dump() | {"status": "dismissed", "version": alert.version + 1}
    )
    assert await intake(dispatch_app, dismissed) == "closed"

    assert await _audited(dispatch, "3701", task["id"]) == ["task.assign", "task.cancel"]
    assert await _audited(dispatch, "370102", task["id"]) == ["task.assign", "task.cancel"]
    assert await _audited(dispatch, "3702", task["id"]) == []
    assert await _audited(dispatch, "37", task["id"]) == ["task.assign", "task.cancel"]
