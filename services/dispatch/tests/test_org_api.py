"""Organisation management: validation, permissions, jurisdiction scoping, rosters, audit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from .conftest import OffsetClock, Org

pytestmark = [pytest.mark.db]
Api = Callable[..., httpx.AsyncClient]


async def test_officers_validate_binding_and_scope(fresh: Any, api: Api) -> None:
    jinan = api(role="city_commander", jur="3701")
    r = await jinan.post("/v1/officers", json={"name": "Li", "kind": "sworn", "admin_code": "370102"})
    assert r.status_code == 201
    sworn = r.json()["id"]
    r = await jinan.post("/v1/officers", json={"name": "Wang", "kind": "auxiliary", "admin_code": "370102"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_binding"
    r = await jinan.post(
        "/v1/officers", json={"name": "Wang", "kind": "auxiliary", "admin_code": "370102", "bound_to": sworn}
    )
    assert r.status_code == 201
    aux = r.json()["id"]
    r = await jinan.post(
        "/v1/officers", json={"name": "Zhao", "kind": "auxiliary", "admin_code": "370102", "bound_to": aux}
    )
    assert r.status_code == 422  # bound to an auxiliary
    r = await jinan.post("/v1/officers", json={"name": "Sun", "kind": "sworn", "admin_code": "370202"})
    assert r.status_code == 403 and r.json()["error"] == "out_of_jurisdiction"
    r = await jinan.post("/v1/officers", json={"name": "Sun", "kind": "sworn", "admin_code": "379999"})
    assert r.status_code == 403
    r = await api(role="province_commander", jur="37").post(
        "/v1/officers", json={"name": "Sun", "kind": "sworn", "admin_code": "379999"}
    )
    assert r.status_code == 422 and r.json()["error"] == "unknown_jurisdiction"
    r = await jinan.post(
        "/v1/officers", json={"id": sworn, "name": "Li", "kind": "sworn", "admin_code": "370102"}
    )
    assert r.status_code == 409
    r = await api(role="dispatcher", jur="3701").post(
        "/v1/officers", json={"name": "X", "kind": "sworn", "admin_code": "370102"}
    )
    assert r.status_code == 403 and r.json()["error"] == "role_forbidden"
    assert (await api(role="city_commander", jur="3702").get(f"/v1/officers/{sworn}")).status_code == 404
    listed = (await api(role="auditor", jur="3701").get("/v1/officers", params={"kind": "auxiliary"})).json()
    assert [o["id"] for o in listed["items"]] == [aux]
    r = await jinan.patch(f"/v1/officers/{sworn}", json={"skills": ["breathalyser"], "active": False})
    assert r.status_code == 200 and r.json()["active"] is False


async def test_units_validate_members_capabilities_and_position(fresh: Any, api: Api, org: Org) -> None:
    jinan = api(role="city_commander", jur="3701")
    sworn = await org.officer("sworn", "370102")
    qingdao_officer = await org.officer("sworn", "370202")
    base = {
        "call_sign": "J-1",
        "admin_code": "370102",
        "vehicle": "car",
        "home": {"lat": 36.66, "lon": 117.12},
    }
    bad = [
        ({"capabilities": ["jetpack"]}, 422),
        ({"vehicle": "tank"}, 422),
        ({"home": {"lat": 10.0, "lon": 117.0}}, 422),
        ({"members": ["nobody"]}, 422),
        ({"members": [qingdao_officer]}, 422),
        ({"members": [sworn, sworn]}, 422),
        ({"capabilities": ["breathalyser", "breathalyser"]}, 422),
    ]
    for change, status in bad:
        r = await jinan.post("/v1/units", json=base | change)
        assert r.status_code == status, (change, r.text)
    r = await jinan.post(
        "/v1/units", json=base | {"id": "J-1", "members": [sworn], "capabilities": ["breathalyser"]}
    )
    assert r.status_code == 201 and r.json()["auxiliary_only"] is False
    r = await jinan.patch("/v1/units/J-1", json={"status": "unavailable", "capabilities": ["weighing"]})
    assert r.status_code == 200 and r.json()["capabilities"] == ["weighing"]
    listed = (await jinan.get("/v1/units", params={"capability": "weighing"})).json()["items"]
    assert [u["id"] for u in listed] == ["J-1"]
    assert (await api(role="city_commander", jur="3702").get("/v1/units/J-1")).status_code == 404


async def test_rosters_refuse_overlaps_double_booking_and_long_shifts(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    jinan = api(role="city_commander", jur="3701")
    a = await org.unit(on_duty=False)
    b = await org.unit(on_duty=False)
    crew_a = [m["id"] for m in (await jinan.get(f"/v1/units/{a}")).json()["members"]]
    t0 = clock.now().replace(minute=0, second=0, microsecond=0)

    def window(unit: str, start: int, end: int, **extra: Any) -> dict[str, Any]:
        return {
            "unit_id": unit,
            "starts_at": (t0 + timedelta(hours=start)).isoformat(),
            "ends_at": (t0 + timedelta(hours=end)).isoformat(),
        } | extra

    r = await jinan.post("/v1/rosters", json=window(a, 0, 8))
    assert (
        r.status_code == 201 and r.json()["has_sworn"] is True and sorted(r.json()["crew"]) == sorted(crew_a)
    )
    roster_id = r.json()["id"]
    r = await jinan.post("/v1/rosters", json=window(a, 7, 12))
    assert r.status_code == 409 and r.json()["error"] == "roster_overlap"
    r = await jinan.post("/v1/rosters", json=window(b, 4, 10, crew=crew_a[:1]))
    assert r.status_code == 409 and r.json()["error"] == "officer_double_booked"
    r = await jinan.post("/v1/rosters", json=window(b, 0, 20))
    assert r.status_code == 422
    r = await jinan.post("/v1/rosters", json=window(b, 5, 4))
    assert r.status_code == 422
    r = await jinan.post("/v1/rosters", json=window(a, 8, 16))  # back-to-back is fine
    assert r.status_code == 201
    on_duty = (
        await jinan.get("/v1/rosters", params={"on_duty_at": (t0 + timedelta(hours=1)).isoformat()})
    ).json()
    assert [x["id"] for x in on_duty["items"]] == [roster_id]
    assert (await jinan.delete(f"/v1/rosters/{roster_id}")).status_code == 204
    assert (await jinan.delete(f"/v1/rosters/{roster_id}")).status_code == 404
    async with fresh.state.runtime.sessions() as s:
        actions = (
            (await s.execute(text("SELECT action FROM dispatch.audit_log WHERE actor = 'p-city_commander'")))
            .scalars()
            .all()
        )
    assert actions.count("roster.create") == 2 and actions.count("roster.delete") == 1


async def test_jurisdictions_tree_and_squadrons(fresh: Any, api: Api) -> None:
    jinan = api(role="city_commander", jur="3701")
    codes = {j["code"] for j in (await jinan.get("/v1/jurisdictions")).json()}
    assert {"370000", "370100", "370102"} <= codes and "370200" not in codes
    r = await jinan.post(
        "/v1/jurisdictions",
        json={"code": "37010201", "name": "G2 squadron", "level": "squadron", "parent_code": "370102"},
    )
    assert r.status_code == 201
    r = await jinan.post(
        "/v1/jurisdictions",
        json={"code": "37010301", "name": "wrong parent", "level": "squadron", "parent_code": "370102"},
    )
    assert r.status_code == 422
