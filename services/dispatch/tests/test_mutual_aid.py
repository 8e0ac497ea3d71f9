"""Mutual aid: Jinan proposes a unit of neighbouring Tai'an for an alert no Jinan unit can take; a
Tai'an commander accepts it (or declines); both cities then see the task, and nobody else does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from .conftest import OffsetClock, Org, assign, make_alert

pytestmark = [pytest.mark.db]
Api = Callable[..., httpx.AsyncClient]
AID = "/v1/dispatch/mutual-aid"


async def test_a_neighbouring_citys_commander_lends_a_unit_and_both_cities_see_the_task(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    taian = await org.unit(admin_code="370902", lat=36.20, lon=117.09)
    qingdao = await org.unit(admin_code="370202", lat=36.07, lon=120.38)
    alert = make_alert()
    assert await assign(fresh, alert, clock=clock) == "pending"  # no Jinan unit on duty
    jinan = api(role="dispatcher", jur="3701")
    body = {"alert_id": alert.id, "unit_id": taian, "reason": "no Jinan unit free, Tai'an car nearby"}
    r = await jinan.post(AID, json=body)
    assert r.status_code == 201, r.text
    aid = r.json()
    assert (aid["state"], aid["unit_admin_code"], aid["proposed_by"]) == (
        "proposed",
        "370902",
        "p-dispatcher",
    )
    r = await jinan.post(AID, json=body | {"unit_id": qingdao})
    assert (r.status_code, r.json()["error"]) == (422, "not_a_neighbour_unit")
    r = await api(role="dispatcher", jur="3709").post(AID, json=body)
    assert (r.status_code, r.json()["error"]) == (404, "alert_not_found")

    decision = {"reason": "car 2 is free"}
    r = await api(role="city_commander", jur="3701").post(f"{AID}/{aid['id']}/accept", json=decision)
    assert (r.status_code, r.json()["error"]) == (403, "not_the_units_city")
    r = await api(role="dispatcher", jur="3709").post(f"{AID}/{aid['id']}/accept", json=decision)
    assert (r.status_code, r.json()["error"]) == (403, "role_forbidden")
    r = await api(role="city_commander", jur="3702").post(f"{AID}/{aid['id']}/accept", json=decision)
    assert (r.status_code, r.json()["error"]) == (404, "aid_not_found")
    taian_commander = api(role="city_commander", jur="3709")
    assert [a["id"] for a in (await taian_commander.get(AID)).json()["items"]] == [aid["id"]]
    r = await taian_commander.post(f"{AID}/{aid['id']}/accept", json=decision)
    assert r.status_code == 200, r.text
    accepted, task = r.json()["aid"], r.json()["task"]
    assert (accepted["state"], accepted["task_id"], task["unit_id"]) == ("accepted", task["id"], taian)
    r = await taian_commander.post(f"{AID}/{aid['id']}/accept", json=decision)
    assert (r.status_code, r.json()["error"]) == (409, "aid_decided")

    for city in (jinan, taian_commander):
        assert (await city.get(f"/v1/tasks/{task['id']}")).status_code == 200
        assert task["id"] in {t["id"] for t in (await city.get("/v1/tasks")).json()["items"]}
    assert (await api(role="dispatcher", jur="3702").get(f"/v1/tasks/{task['id']}")).status_code == 404
    assert (await jinan.get(AID, params={"state": "accepted"})).json()["items"][0]["id"] == aid["id"]
    # The lent unit's crew gets the task on its phone.
    phone = api(role="patrol_officer", jur="3709", unit_id=taian, sub=org.member(taian))
    assert [t["id"] for t in (await phone.get("/v1/patrol/tasks")).json()["tasks"]] == [task["id"]]


async def test_a_declined_proposal_leaves_the_alert_waiting(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    taian = await org.unit(admin_code="370902", lat=36.20, lon=117.09)
    alert = make_alert()
    assert await assign(fresh, alert, clock=clock) == "pending"
    jinan = api(role="dispatcher", jur="3701")
    r = await jinan.post(AID, json={"alert_id": alert.id, "unit_id": taian, "reason": "please help"})
    aid = r.json()
    r = await api(role="city_commander", jur="3709").post(
        f"{AID}/{aid['id']}/decline", json={"reason": "needed at home"}
    )
    assert r.status_code == 200 and (r.json()["state"], r.json()["decision_reason"]) == (
        "declined",
        "needed at home",
    )
    [waiting] = (await jinan.get("/v1/dispatch/pending")).json()["items"]
    assert waiting["alert_id"] == alert.id
