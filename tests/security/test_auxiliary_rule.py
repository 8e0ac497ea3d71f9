"""The police–auxiliary rule end to end on dispatch: a unit with only auxiliaries on its current
roster is never given an enforcement task (by the assignment, a reassignment or a chosen unit),
and an auxiliary officer signs for or closes an enforcement task only while a sworn officer is on
the unit's current roster. E-bike persuasion is not enforcement: auxiliaries handle it alone.

Each scenario works in a city of its own, where no other test puts units on duty, so that which
unit gets a task depends on the scenario alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sec_support import bearer, client_for
from sec_world import WEIHAI_SPOT, Org, audit_rows, intake, make_alert, request_id, task_for

pytestmark = [pytest.mark.db]

DONGYING = {"lat": 37.44193, "lon": 118.67799, "admin_code": "370502", "road": "G22", "km": 8.0}
WEIFANG = {"lat": 36.72004, "lon": 119.17128, "admin_code": "370702", "road": "G35", "km": 8.0}
JINING = {"lat": 35.41887, "lon": 116.60251, "admin_code": "370802", "road": "S1", "km": 8.0}
TAIAN = {"lat": 36.20756, "lon": 117.10388, "admin_code": "370902", "road": "G2", "km": 8.0}
EBIKE = {"violations": ["ebike_wrong_way"], "plate": None, "factors": []}


@pytest.fixture(scope="module")
async def dispatch(dispatch_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(dispatch_app, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def org(dispatch_app: Any) -> Org:
    return Org(dispatch_app)


def _city(spot: dict[str, Any]) -> str:
    return str(spot["admin_code"][:4])


async def _task(dispatch: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    r = await dispatch.get(f"/v1/tasks/{task_id}", headers=bearer("province_commander"))
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_an_auxiliary_only_unit_gets_persuasion_but_never_enforcement(
    dispatch_app: Any, dispatch: httpx.AsyncClient, org: Org
) -> None:
    aux_unit = await org.unit(DONGYING, crew="auxiliary")
    unit = (await dispatch.get(f"/v1/units/{aux_unit['unit']}", headers=bearer("province_commander"))).json()
    assert unit["auxiliary_only"] is True
    # Every kind of enforcement waits rather than go to the only unit on duty.
    for over in ({}, {"violations": ["speeding"]}, {"violations": ["overload"], "plate": "鲁J12345"}):
        alert = make_alert(DONGYING, **over)
        assert await intake(dispatch_app, alert) == "pending", over
        assert await task_for(dispatch, alert.id) is None
    # Persuasion goes to it, and the auxiliaries sign for it and close it alone.
    ebike = make_alert(DONGYING, **EBIKE)
    assert await intake(dispatch_app, ebike) == "assigned"
    task = await task_for(dispatch, ebike.id)
    assert task is not None and (task["unit_id"], task["enforcement"]) == (aux_unit["unit"], False)
    phone = bearer("auxiliary_officer", "370502", aux_unit["unit"], sub=aux_unit["aux"])
    assert (await dispatch.post(f"/v1/patrol/tasks/{task['id']}/sign", headers=phone)).status_code == 200
    r = await dispatch.post(
        f"/v1/patrol/tasks/{task['id']}/feedback", json={"outcome": "warned"}, headers=phone
    )
    assert r.status_code == 200 and r.json()["status"] == "resolved"


async def test_a_unit_whose_current_roster_has_only_auxiliaries_gets_no_enforcement(
    dispatch_app: Any, dispatch: httpx.AsyncClient, org: Org
) -> None:
    # The unit has a sworn member, but this shift it is crewed by auxiliaries alone.
    unit = await org.unit(WEIFANG, on_duty=False)
    aux_only = await org.roster(unit["unit"], hours=(-1, 1), crew=[unit["aux"]])
    alert = make_alert(WEIFANG)
    assert await intake(dispatch_app, alert) == "pending"
    # Once the sworn officer is on the current roster, the next try assigns it.
    await org.drop_roster(aux_only)
    await org.roster(unit["unit"], hours=(-1, 1), crew=[unit["sworn"], unit["aux"]])
    assert await intake(dispatch_app, make_alert(WEIFANG)) == "assigned"


async def test_a_reassignment_never_hands_enforcement_to_an_auxiliary_only_unit(
    dispatch_app: Any, dispatch: httpx.AsyncClient, org: Org
) -> None:
    holder = await org.unit(JINING)
    aux_only = await org.unit(JINING, crew="auxiliary", offset_km=1)  # nearer than the sworn one
    sworn = await org.unit(JINING, offset_km=5)
    alert = make_alert(JINING)
    assert await intake(dispatch_app, alert) == "assigned"
    task = await task_for(dispatch, alert.id)
    assert task is not None and task["unit_id"] == holder["unit"]
    excluded = (await _task(dispatch, task["id"]))["reasons"]["excluded"]
    assert excluded.get("no sworn officer on board") == 1

    dispatcher = bearer("dispatcher", _city(JINING))
    rid = request_id()
    r = await dispatch.post(
        f"/v1/tasks/{task['id']}/reassign",
        json={"reason": "try the auxiliaries", "unit_id": aux_only["unit"]},
        headers=dispatcher | {"X-Request-Id": rid},
    )
    assert (r.status_code, r.json()["error"]) == (409, "no_unit")
    assert "no sworn officer on board" in r.json()["detail"]
    assert (await _task(dispatch, task["id"]))["status"] == "assigned"
    assert await audit_rows(dispatch_app, "dispatch", rid) == []
    # The next best unit skips the nearer auxiliary-only one.
    r = await dispatch.post(
        f"/v1/tasks/{task['id']}/reassign", json={"reason": "unit broke down"}, headers=dispatcher
    )
    assert r.status_code == 200, r.text
    assert r.json()["task"]["unit_id"] == sworn["unit"]


async def _act(
    dispatch: httpx.AsyncClient,
    dispatch_app: Any,
    phone: dict[str, str],
    task_id: str,
    step: str,
    body: Any = None,
) -> httpx.Response:
    rid = request_id()
    r = await dispatch.post(
        f"/v1/patrol/tasks/{task_id}/{step}", json=body, headers=phone | {"X-Request-Id": rid}
    )
    expected = 1 if r.status_code == 200 else 0
    assert len(await audit_rows(dispatch_app, "dispatch", rid)) == expected, (step, r.text)
    return r


async def test_an_auxiliary_signs_and_closes_enforcement_only_with_a_sworn_officer_on_the_roster(
    dispatch_app: Any, dispatch: httpx.AsyncClient, org: Org
) -> None:
    unit = await org.unit(WEIHAI_SPOT)
    alert = make_alert(WEIHAI_SPOT)
    assert await intake(dispatch_app, alert) == "assigned"
    task = await task_for(dispatch, alert.id)
    assert task is not None and (task["unit_id"], task["enforcement"]) == (unit["unit"], True)
    phone = bearer("auxiliary_officer", "371002", unit["unit"], sub=unit["aux"])
    sign_key = {"Idempotency-Key": "aux-sign-1"}

    async def crew(*officers: str) -> None:
        """The unit's current shift, crewed by ``officers`` (the shift is swapped, not overlapped)."""
        await org.drop_roster(unit["roster"])
        unit["roster"] = await org.roster(unit["unit"], hours=(-1, 1), crew=list(officers))

    await crew(unit["aux"])  # the sworn officer has left the shift
    version = (await _task(dispatch, task["id"]))["version"]
    r = await _act(dispatch, dispatch_app, phone | sign_key, task["id"], "sign")
    assert (r.status_code, r.json()["error"]) == (403, "auxiliary_without_sworn")
    assert ((t := await _task(dispatch, task["id"]))["status"], t["version"]) == ("assigned", version)

    await crew(unit["sworn"], unit["aux"])  # back on board: the same request now goes through
    r = await _act(dispatch, dispatch_app, phone | sign_key, task["id"], "sign")
    assert r.status_code == 200 and r.json()["status"] == "signed"

    await crew(unit["aux"])
    r = await _act(dispatch, dispatch_app, phone, task["id"], "feedback", {"outcome": "ticketed"})
    assert (r.status_code, r.json()["error"]) == (403, "auxiliary_without_sworn")
    assert (await _task(dispatch, task["id"]))["status"] == "signed"
    # With no shift at all, the auxiliary is on no crew: nobody may act for the unit.
    await org.drop_roster(unit["roster"])
    r = await _act(dispatch, dispatch_app, phone, task["id"], "feedback", {"outcome": "ticketed"})
    assert (r.status_code, r.json()["error"]) == (403, "not_on_crew")
    unit["roster"] = await org.roster(unit["unit"], hours=(-1, 1), crew=[unit["sworn"], unit["aux"]])
    r = await _act(dispatch, dispatch_app, phone, task["id"], "feedback", {"outcome": "ticketed"})
    assert r.status_code == 200 and (r.json()["status"], r.json()["outcome"]) == ("resolved", "ticketed")


async def test_a_deactivated_sworn_officer_no_longer_counts_as_on_board(
    dispatch_app: Any, dispatch: httpx.AsyncClient, org: Org
) -> None:
    """A sworn officer taken off duty (suspended, left the force) mid-shift leaves the auxiliaries
    of his shift alone: they get no enforcement and cannot sign for the task they hold."""
    unit = await org.unit(TAIAN)
    held = make_alert(TAIAN)
    assert await intake(dispatch_app, held) == "assigned"
    task = await task_for(dispatch, held.id)
    assert task is not None and task["unit_id"] == unit["unit"]
    spare = await org.unit(TAIAN, offset_km=2)
    r = await dispatch.patch(
        f"/v1/officers/{spare['sworn']}",
        json={"active": False},
        headers=bearer("city_commander", _city(TAIAN)),
    )
    assert r.status_code == 200 and r.json()["active"] is False
    assert await intake(dispatch_app, make_alert(TAIAN)) == "pending"

    r = await dispatch.patch(
        f"/v1/officers/{unit['sworn']}",
        json={"active": False},
        headers=bearer("city_commander", _city(TAIAN)),
    )
    assert r.status_code == 200
    phone = bearer("auxiliary_officer", "370902", unit["unit"], sub=unit["aux"])
    r = await _act(dispatch, dispatch_app, phone, task["id"], "sign")
    assert (r.status_code, r.json()["error"]) == (403, "auxiliary_without_sworn")
    # Back on duty, he counts again.
    r = await dispatch.patch(
        f"/v1/officers/{unit['sworn']}", json={"active": True}, headers=bearer("city_commander", _city(TAIAN))
    )
    assert r.status_code == 200
    r = await _act(dispatch, dispatch_app, phone, task["id"], "sign")
    assert r.status_code == 200 and r.json()["status"] == "signed"
