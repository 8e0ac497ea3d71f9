"""Jurisdiction isolation on dispatch: a Qingdao (3702) dispatcher or commander neither sees nor
touches Jinan's (3701) officers, units, rosters, jurisdictions, tasks or shift plans; a province
commander sees and acts on all; patrol roles see and act on their own unit's tasks only.
Refusals change nothing and leave no audit record."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sec_support import bearer, client_for
from sec_world import (
    JINAN_SPOT,
    QINGDAO_SPOT,
    Org,
    audit_rows,
    crew_bearer,
    intake,
    make_alert,
    request_id,
    somewhere_near,
    task_for,
)

pytestmark = [pytest.mark.db]

QD = bearer("dispatcher", "3702")
QD_BOSS = bearer("city_commander", "3702")
JN_BOSS = bearer("city_commander", "3701")
PROVINCE = bearer("province_commander")


def patrol(role: str, unit_id: str, jur: str = "370202") -> dict[str, str]:
    return crew_bearer(role, jur, unit_id)


@pytest.fixture(scope="module")
async def dispatch(dispatch_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(dispatch_app, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
async def world(dispatch_app: Any, dispatch: httpx.AsyncClient) -> dict[str, Any]:
    """A unit in each city with a task, and an idle second unit in each."""
    org = Org(dispatch_app)
    out: dict[str, Any] = {}
    for city, spot in (("jn", somewhere_near(JINAN_SPOT)), ("qd", somewhere_near(QINGDAO_SPOT))):
        out[city] = await org.unit(spot)
        out[f"{city}_spare"] = await org.unit(spot, offset_km=3)
        alert = make_alert(spot)
        assert await intake(dispatch_app, alert) == "assigned"
        task = await task_for(dispatch, alert.id)
        assert task is not None and task["unit_id"] == out[city]["unit"], task
        out[f"{city}_task"] = task
    return out


async def _walk(client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any) -> list[Any]:
    items: list[Any] = []
    cursor = None
    while True:
        r = await client.get(
            path, params={"limit": 500, **params} | ({"cursor": cursor} if cursor else {}), headers=headers
        )
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        if not (cursor := r.json()["next_cursor"]):
            return items


async def _refused(
    dispatch_app: Any,
    client: httpx.AsyncClient,
    headers: dict[str, str],
    cases: list[tuple[str, str, Any, int, str]],
) -> None:
    """Each (method, path, body, status, error) is refused as expected and leaves no audit record."""
    for method, path, body, status, error in cases:
        rid = request_id()
        r = await client.request(method, path, json=body, headers=headers | {"X-Request-Id": rid})
        assert (r.status_code, r.json().get("error")) == (status, error), (method, path, r.text)
        assert await audit_rows(dispatch_app, "dispatch", rid) == [], (method, path)


async def test_officers_of_another_city_are_neither_seen_nor_touched(
    dispatch: httpx.AsyncClient, dispatch_app: Any, world: dict[str, Any]
) -> None:
    jinan_officer = world["jn"]["sworn"]
    for headers in (QD, QD_BOSS, bearer("auditor", "3702")):
        listed = await _walk(dispatch, "/v1/officers", headers)
        assert world["qd"]["sworn"] in {o["id"] for o in listed}
        assert {o["admin_code"][:4] for o in listed} == {"3702"}
        assert await _walk(dispatch, "/v1/officers", headers, admin_code="3701") == []
        r = await dispatch.get(f"/v1/officers/{jinan_officer}", headers=headers)
        assert (r.status_code, r.json()["error"]) == (404, "officer_not_found")
    before = (await dispatch.get(f"/v1/officers/{jinan_officer}", headers=PROVINCE)).json()
    await _refused(
        dispatch_app,
        dispatch,
        QD_BOSS,
        [
            ("PATCH", f"/v1/officers/{jinan_officer}", {"active": False}, 404, "officer_not_found"),
            (
                "POST",
                "/v1/officers",
                {"name": "Li", "kind": "sworn", "admin_code": "370102"},
                403,
                "out_of_jurisdiction",
            ),
        ],
    )
    assert (await dispatch.get(f"/v1/officers/{jinan_officer}", headers=PROVINCE)).json() == before
    listed = {o["id"] for o in await _walk(dispatch, "/v1/officers", PROVINCE)}
    assert {world["jn"]["sworn"], world["qd"]["sworn"]} <= listed


async def test_units_and_the_board_of_another_city_are_neither_seen_nor_touched(
    dispatch: httpx.AsyncClient, dispatch_app: Any, world: dict[str, Any]
) -> None:
    jinan_unit = world["jn"]["unit"]
    listed = await _walk(dispatch, "/v1/units", QD)
    assert world["qd"]["unit"] in {u["id"] for u in listed}
    assert {u["admin_code"][:4] for u in listed} == {"3702"}
    assert await _walk(dispatch, "/v1/units", QD, admin_code="370102") == []
    r = await dispatch.get(f"/v1/units/{jinan_unit}", headers=QD)
    assert (r.status_code, r.json()["error"]) == (404, "unit_not_found")
    for params in ({}, {"admin_code": "3701"}, {"admin_code": "37"}):
        board = (await dispatch.get("/v1/units/board", params=params, headers=QD)).json()["units"]
        assert world["qd"]["unit"] in {u["unit_id"] for u in board}
        assert {u["admin_code"][:4] for u in board} == {"3702"}, params
    province_board = (await dispatch.get("/v1/units/board", headers=PROVINCE)).json()["units"]
    assert {world["jn"]["unit"], world["qd"]["unit"]} <= {u["unit_id"] for u in province_board}

    before = (await dispatch.get(f"/v1/units/{jinan_unit}", headers=PROVINCE)).json()
    unit = {
        "call_sign": "planted",
        "admin_code": "370102",
        "vehicle": "car",
        "home": {"lat": 36.65, "lon": 117.12},
    }
    await _refused(
        dispatch_app,
        dispatch,
        QD_BOSS,
        [
            ("PATCH", f"/v1/units/{jinan_unit}", {"status": "unavailable"}, 404, "unit_not_found"),
            ("POST", "/v1/units", unit, 403, "out_of_jurisdiction"),
            # A Qingdao unit crewed with Jinan's officer: answered as for an officer that does not
            # exist (no existence oracle).
            (
                "POST",
                "/v1/units",
                unit | {"admin_code": "370202", "members": [world["jn"]["sworn"]]},
                422,
                "unknown_officer",
            ),
            (
                "POST",
                "/v1/units",
                unit | {"admin_code": "370202", "members": ["O-no-such"]},
                422,
                "unknown_officer",
            ),
        ],
    )
    assert (await dispatch.get(f"/v1/units/{jinan_unit}", headers=PROVINCE)).json() == before
    # An auxiliary bound to Jinan's sworn officer: the same answer as for an id that does not exist.
    aux = {"name": "aux", "kind": "auxiliary", "admin_code": "370202"}
    details = []
    for sworn in (world["jn"]["sworn"], "O-no-such"):
        r = await dispatch.post("/v1/officers", json=aux | {"bound_to": sworn}, headers=QD_BOSS)
        assert (r.status_code, r.json()["error"]) == (422, "invalid_binding")
        details.append(r.json()["detail"].replace(sworn, "<id>"))
    assert details[0] == details[1]
    # Who sees both cities is told what is wrong.
    mixed = unit | {"admin_code": "370202", "members": [world["jn"]["sworn"]]}
    r = await dispatch.post("/v1/units", json=mixed, headers=PROVINCE)
    assert (r.status_code, r.json()["error"]) == (422, "officer_other_city")


async def test_rosters_and_jurisdictions_of_another_city_are_neither_seen_nor_touched(
    dispatch: httpx.AsyncClient, dispatch_app: Any, world: dict[str, Any]
) -> None:
    listed = await _walk(dispatch, "/v1/rosters", QD)
    ids = {r["id"] for r in listed}
    assert world["qd"]["roster"] in ids and world["jn"]["roster"] not in ids
    assert await _walk(dispatch, "/v1/rosters", QD, unit_id=world["jn"]["unit"]) == []
    assert await _walk(dispatch, "/v1/rosters", QD, admin_code="3701") == []
    province = {r["id"] for r in await _walk(dispatch, "/v1/rosters", PROVINCE)}
    assert {world["qd"]["roster"], world["jn"]["roster"]} <= province

    codes = {j["code"] for j in (await dispatch.get("/v1/jurisdictions", headers=QD)).json()}
    assert "370202" in codes and "370000" in codes  # its subtree and the ancestors that name it
    assert not {c for c in codes if c.startswith("3701")}

    window = {"starts_at": "2031-01-01T08:00:00+08:00", "ends_at": "2031-01-01T16:00:00+08:00"}
    squadron = {"code": "370102901", "name": "planted", "level": "squadron", "parent_code": "370102"}
    await _refused(
        dispatch_app,
        dispatch,
        QD_BOSS,
        [
            ("POST", "/v1/rosters", {"unit_id": world["jn"]["unit"]} | window, 422, "unknown_unit"),
            ("DELETE", f"/v1/rosters/{world['jn']['roster']}", None, 404, "roster_not_found"),
            ("POST", "/v1/jurisdictions", squadron, 403, "out_of_jurisdiction"),
        ],
    )
    assert world["jn"]["roster"] in {
        r["id"] for r in await _walk(dispatch, "/v1/rosters", bearer("city_commander", "3701"))
    }


async def test_tasks_of_another_city_are_neither_seen_nor_reassigned(
    dispatch: httpx.AsyncClient, dispatch_app: Any, world: dict[str, Any]
) -> None:
    jinan, qingdao = world["jn_task"], world["qd_task"]
    for headers in (QD, QD_BOSS, bearer("auditor", "3702")):
        listed = {t["id"] for t in await _walk(dispatch, "/v1/tasks", headers)}
        assert qingdao["id"] in listed and jinan["id"] not in listed
        for params in (
            {"alert_id": jinan["alert_id"]},
            {"unit_id": jinan["unit_id"]},
            {"admin_code": "3701"},
            {"admin_code": "37", "status": "assigned"},
        ):
            assert jinan["id"] not in {t["id"] for t in await _walk(dispatch, "/v1/tasks", headers, **params)}
        r = await dispatch.get(f"/v1/tasks/{jinan['id']}", headers=headers)
        assert (r.status_code, r.json()["error"]) == (404, "task_not_found")
        assert (await dispatch.get(f"/v1/tasks/{qingdao['id']}", headers=headers)).status_code == 200
    province = {t["id"] for t in await _walk(dispatch, "/v1/tasks", PROVINCE)}
    assert {jinan["id"], qingdao["id"]} <= province

    before = (await dispatch.get(f"/v1/tasks/{jinan['id']}", headers=PROVINCE)).json()
    for headers in (QD, QD_BOSS):
        await _refused(
            dispatch_app,
            dispatch,
            headers,
            [
                ("POST", f"/v1/tasks/{jinan['id']}/reassign", {"reason": "ours now"}, 404, "task_not_found"),
                (
                    "POST",
                    f"/v1/tasks/{jinan['id']}/reassign",
                    {"reason": "ours now", "unit_id": world["qd_spare"]["unit"]},
                    404,
                    "task_not_found",
                ),
            ],
        )
    assert (await dispatch.get(f"/v1/tasks/{jinan['id']}", headers=PROVINCE)).json() == before


async def test_a_city_reassigns_its_own_tasks_and_the_province_any_citys(
    dispatch: httpx.AsyncClient, dispatch_app: Any
) -> None:
    org = Org(dispatch_app)
    tasks = {}
    for city, spot in (("jn", somewhere_near(JINAN_SPOT)), ("qd", somewhere_near(QINGDAO_SPOT))):
        first, second = await org.unit(spot), await org.unit(spot, offset_km=4)
        alert = make_alert(spot)
        assert await intake(dispatch_app, alert) == "assigned"
        tasks[city] = (await task_for(dispatch, alert.id), second["unit"])
        assert tasks[city][0] is not None and tasks[city][0]["unit_id"] == first["unit"]
    for city, headers in (("qd", QD), ("jn", PROVINCE)):
        task, spare = tasks[city]
        r = await dispatch.post(
            f"/v1/tasks/{task['id']}/reassign",
            json={"reason": "closer unit", "unit_id": spare},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        assert (r.json()["previous"]["status"], r.json()["task"]["unit_id"]) == ("reassigned", spare)


async def test_shift_plans_of_another_city_are_neither_seen_nor_applied(
    dispatch: httpx.AsyncClient, dispatch_app: Any
) -> None:
    plan = {"demand": [1, 1, 2, 2], "shift_hours": 2, "start_date": "2031-02-01"}
    r = await dispatch.post("/v1/shift-plans", json=plan | {"admin_code": "370102"}, headers=JN_BOSS)
    assert r.status_code == 201, r.text
    jinan = r.json()
    r = await dispatch.post("/v1/shift-plans", json=plan | {"admin_code": "370202"}, headers=QD)
    assert r.status_code == 201, r.text
    qingdao = r.json()
    for headers in (QD, QD_BOSS):
        for suffix in ("", "/plot.png"):
            r = await dispatch.get(f"/v1/shift-plans/{jinan['id']}{suffix}", headers=headers)
            assert (r.status_code, r.json()["error"]) == (404, "plan_not_found")
        assert (await dispatch.get(f"/v1/shift-plans/{qingdao['id']}", headers=headers)).status_code == 200
    await _refused(
        dispatch_app,
        dispatch,
        QD_BOSS,
        [
            ("POST", f"/v1/shift-plans/{jinan['id']}/apply", None, 404, "plan_not_found"),
            ("POST", "/v1/shift-plans", plan | {"admin_code": "370102"}, 403, "out_of_jurisdiction"),
        ],
    )
    after = (await dispatch.get(f"/v1/shift-plans/{jinan['id']}", headers=PROVINCE)).json()
    assert after["applied_at"] is None and after["id"] == jinan["id"]


async def test_patrol_roles_see_and_act_on_their_own_units_tasks_only(
    dispatch: httpx.AsyncClient, dispatch_app: Any, world: dict[str, Any]
) -> None:
    qd_unit, spare = world["qd"]["unit"], world["qd_spare"]["unit"]
    own_task, jinan_task = world["qd_task"], world["jn_task"]
    for role in ("patrol_officer", "auxiliary_officer"):
        polled = (await dispatch.get("/v1/patrol/tasks", headers=patrol(role, qd_unit))).json()["tasks"]
        assert own_task["id"] in {t["id"] for t in polled}
        assert {t["unit_id"] for t in polled} == {qd_unit}
        # A unit of the same city, and a unit of the other: neither sees nor touches the task.
        for unit, jur in ((spare, "370202"), (world["jn"]["unit"], "370102")):
            polled = (await dispatch.get("/v1/patrol/tasks", headers=patrol(role, unit, jur))).json()["tasks"]
            assert own_task["id"] not in {t["id"] for t in polled}
            await _refused(
                dispatch_app,
                dispatch,
                patrol(role, unit, jur),
                [
                    ("POST", f"/v1/patrol/tasks/{own_task['id']}/sign", None, 404, "task_not_found"),
                    (
                        "POST",
                        f"/v1/patrol/tasks/{own_task['id']}/status",
                        {"status": "en_route"},
                        404,
                        "task_not_found",
                    ),
                    (
                        "POST",
                        f"/v1/patrol/tasks/{own_task['id']}/feedback",
                        {"outcome": "warned"},
                        404,
                        "task_not_found",
                    ),
                ],
            )
        # Another city's task, even with the wider patrol claim of that city's jurisdiction.
        await _refused(
            dispatch_app,
            dispatch,
            patrol(role, qd_unit, "3701"),
            [("POST", f"/v1/patrol/tasks/{jinan_task['id']}/sign", None, 404, "task_not_found")],
        )
    for task in (own_task, jinan_task):
        assert (await dispatch.get(f"/v1/tasks/{task['id']}", headers=PROVINCE)).json()[
            "status"
        ] == "assigned"
    # Patrol roles read tasks through the patrol protocol only, and plan or reassign nothing.
    for path in ("/v1/tasks", f"/v1/tasks/{own_task['id']}"):
        r = await dispatch.get(path, headers=patrol("patrol_officer", qd_unit))
        assert (r.status_code, r.json()["error"]) == (403, "role_forbidden")
    r = await dispatch.post(
        f"/v1/patrol/tasks/{own_task['id']}/sign", headers=patrol("patrol_officer", qd_unit)
    )
    assert r.status_code == 200 and r.json()["status"] == "signed"
