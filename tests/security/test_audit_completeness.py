"""Audit completeness: every mutating route (POST/PUT/PATCH/DELETE under /v1) of every service,
found in the running app like test_matrix.py finds routes, has a case below; each case makes one
real change and the change leaves exactly one audit record saying who (person, role, unit,
jurisdiction), what (action, target, the target's admin code, before and after), when, and from
where (X-Request-Id, client address). A new route without a case fails the coverage test."""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
import orjson
import pytest
from sec_support import PARTNERS, QINGDAO, api_routes, bearer, client_for, qingdao_event
from sec_world import (
    QINGDAO_SPOT,
    RIZHAO_SPOT,
    Org,
    audit_rows,
    crew_bearer,
    crew_member,
    intake,
    make_alert,
    new_alerts,
    new_plate,
    request_id,
    somewhere_near,
    task_for,
)
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from qzx_common.web.exchange import ExchangeAuth
from qzx_dev.samples import make_accident

pytestmark = [pytest.mark.db]

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
Change = Literal["create", "update", "delete", "act"]


@dataclass
class Actor:
    """Who makes the change: a person with a token, or an exchange partner signing the request."""

    role: str | None
    jur: str | None
    unit_id: str | None = None
    partner: str | None = None
    sub: str = field(default_factory=lambda: f"audit-{uuid.uuid4().hex[:10]}")

    def auth(self) -> dict[str, Any]:
        if self.partner:
            return {"auth": ExchangeAuth(self.partner, PARTNERS[self.partner]["secret"])}
        assert self.role and self.jur
        return {"headers": bearer(self.role, self.jur, self.unit_id, sub=self.sub)}

    @property
    def name(self) -> str:
        return f"exchange:{self.partner}" if self.partner else self.sub


@dataclass
class Call:
    """One request that makes one change, and what its audit record must say."""

    actor: Actor
    path: str
    body: Any
    action: str
    target_type: str
    target_id: str | Callable[[httpx.Response], str]
    admin_code: str
    change: Change


@dataclass
class World:
    apps: dict[str, Any]

    @property
    def org(self) -> Org:
        return Org(self.apps["dispatch"])

    def client(self, service: str) -> httpx.AsyncClient:
        return client_for(self.apps[service], timeout=30)


Builder = Callable[[World], Awaitable[Call]]
CASES: dict[tuple[str, str, str], Builder] = {}


def case(service: str, method: str, path: str) -> Callable[[Builder], Builder]:
    def register(build: Builder) -> Builder:
        CASES[(service, method, path)] = build
        return build

    return register


def _created_id(r: httpx.Response) -> str:
    return str(r.json()["id"])


def _batch_id(r: httpx.Response) -> str:
    return f"{r.request.headers['X-Qzx-Key-Id']}:{r.request.headers['X-Qzx-Nonce']}"


QD_BOSS = Actor("city_commander", "3702")
RZ = "371102"  # dispatch's cases act in Rizhao, where no other test dispatches


def rizhao(role: str = "city_commander", unit_id: str | None = None) -> Actor:
    if unit_id is None:
        return Actor(role, "3711")
    return Actor(role, "371102", unit_id, sub=crew_member(unit_id, role))  # patrol: one of its crew


# -- ingest --------------------------------------------------------------------------------------


@case("ingest", "POST", "/v1/exchange/violations")
async def _exchange_violations(w: World) -> Call:
    return Call(
        Actor(None, None, partner="qingdao"),
        "/v1/exchange/violations",
        {"events": [qingdao_event()]},
        "exchange.violations.receive",
        "exchange_batch",
        _batch_id,
        "3702",
        "act",
    )


@case("ingest", "POST", "/v1/exchange/accidents")
async def _exchange_accidents(w: World) -> Call:
    return Call(
        Actor(None, None, partner="qingdao"),
        "/v1/exchange/accidents",
        {"accidents": [make_accident(location=QINGDAO)]},
        "exchange.accidents.receive",
        "exchange_batch",
        _batch_id,
        "3702",
        "act",
    )


@case("ingest", "POST", "/v1/accidents")
async def _report_accident(w: World) -> Call:
    accident = make_accident(location=QINGDAO, accident_id=f"370202-A-{uuid.uuid4().hex[:12]}")
    return Call(
        Actor("dispatcher", "3702"),
        "/v1/accidents",
        accident,
        "accidents.report",
        "accident",
        accident["accident_id"],
        "370202",
        "create",
    )


@case("ingest", "POST", "/v1/accidents/{accident_id}/quick-handling/close")
async def _close_quick_handling(w: World) -> Call:
    accident = make_accident(
        location=QINGDAO, accident_id=f"370202-A-{uuid.uuid4().hex[:12]}", severity="property_only", injured=0
    )
    async with w.client("ingest") as c:
        r = await c.post(
            "/v1/accidents", content=orjson.dumps(accident), headers=bearer("dispatcher", "3702")
        )
    assert r.status_code == 201, r.text
    return Call(
        Actor("dispatcher", "3702"),
        f"/v1/accidents/{accident['accident_id']}/quick-handling/close",
        {"outcome": "agreed", "road_cleared_at": datetime.now(UTC).isoformat()},
        "accidents.quick_handling.close",
        "accident",
        accident["accident_id"],
        "370202",
        "update",
    )


# -- alerts --------------------------------------------------------------------------------------


@case("alerts", "POST", "/v1/alerts/{alert_id}/dismiss")
async def _dismiss(w: World) -> Call:
    [alert] = await new_alerts(w.apps["alerts"], QINGDAO_SPOT)
    return Call(
        Actor("dispatcher", "3702"),
        f"/v1/alerts/{alert['id']}/dismiss",
        {"reason": "false alarm"},
        "alert.dismiss",
        "alert",
        alert["id"],
        "370202",
        "update",
    )


def _hotlist_body() -> dict[str, Any]:
    return {"plate": new_plate("A"), "reason": "stolen car", "admin_code": "370202"}


@case("alerts", "POST", "/v1/hotlists")
async def _hotlist_put(w: World) -> Call:
    return Call(
        QD_BOSS, "/v1/hotlists", _hotlist_body(), "hotlist.create", "hotlist", _created_id, "370202", "create"
    )


@case("alerts", "DELETE", "/v1/hotlists/{entry_id}")
async def _hotlist_delete(w: World) -> Call:
    async with w.client("alerts") as c:
        r = await c.post("/v1/hotlists", json=_hotlist_body(), headers=bearer("city_commander", "3702"))
    entry = r.json()["id"]
    return Call(
        QD_BOSS, f"/v1/hotlists/{entry}", None, "hotlist.delete", "hotlist", entry, "370202", "delete"
    )


def _hazard_body() -> dict[str, Any]:
    return {"name": "sharp bend", "lat": 36.08, "lon": 120.38, "risk_level": "high", "admin_code": "370202"}


async def _hazard(w: World) -> str:
    async with w.client("alerts") as c:
        r = await c.post("/v1/hazards", json=_hazard_body(), headers=bearer("city_commander", "3702"))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@case("alerts", "POST", "/v1/hazards")
async def _hazard_create(w: World) -> Call:
    return Call(
        QD_BOSS, "/v1/hazards", _hazard_body(), "hazard.create", "hazard", _created_id, "370202", "create"
    )


@case("alerts", "PATCH", "/v1/hazards/{hazard_id}")
async def _hazard_update(w: World) -> Call:
    hazard = await _hazard(w)
    return Call(
        QD_BOSS,
        f"/v1/hazards/{hazard}",
        {"status": "stock"},
        "hazard.update",
        "hazard",
        hazard,
        "370202",
        "update",
    )


@case("alerts", "DELETE", "/v1/hazards/{hazard_id}")
async def _hazard_delete(w: World) -> Call:
    hazard = await _hazard(w)
    return Call(QD_BOSS, f"/v1/hazards/{hazard}", None, "hazard.delete", "hazard", hazard, "370202", "delete")


@case("alerts", "POST", "/v1/exchange/hotlists")
async def _exchange_hotlists(w: World) -> Call:
    return Call(
        # The ministry: test_exchange_alerts.py counts every batch the qingdao partner sends.
        Actor(None, None, partner="ministry"),
        "/v1/exchange/hotlists",
        {"entries": [{"plate": new_plate("B"), "reason": "ministry watch list"}]},
        "exchange.hotlists.receive",
        "exchange_batch",
        _batch_id,
        "37",
        "act",
    )


# -- dispatch: organisation ----------------------------------------------------------------------


@case("dispatch", "POST", "/v1/jurisdictions")
async def _jurisdiction(w: World) -> Call:
    code = f"{RZ}{random.randrange(10**5, 10**6)}"
    body = {"code": code, "name": "squadron", "level": "squadron", "parent_code": RZ}
    return Call(
        rizhao(), "/v1/jurisdictions", body, "jurisdiction.create", "jurisdiction", code, RZ, "create"
    )


@case("dispatch", "POST", "/v1/officers")
async def _officer_create(w: World) -> Call:
    body = {"name": "Sun", "kind": "sworn", "admin_code": RZ}
    return Call(rizhao(), "/v1/officers", body, "officer.create", "officer", _created_id, RZ, "create")


@case("dispatch", "PATCH", "/v1/officers/{officer_id}")
async def _officer_update(w: World) -> Call:
    officer = await w.org.officer("sworn", RZ)
    body = {"name": "Sun Jr", "skills": ["first_aid"]}
    return Call(rizhao(), f"/v1/officers/{officer}", body, "officer.update", "officer", officer, RZ, "update")


@case("dispatch", "POST", "/v1/units")
async def _unit_create(w: World) -> Call:
    sworn = await w.org.officer("sworn", RZ)
    body = {
        "call_sign": "Rizhao 1",
        "admin_code": RZ,
        "vehicle": "car",
        "capabilities": ["breathalyser"],
        "home": {"lat": 35.42, "lon": 119.54},
        "members": [sworn],
    }
    return Call(rizhao(), "/v1/units", body, "unit.create", "unit", _created_id, RZ, "create")


@case("dispatch", "PATCH", "/v1/units/{unit_id}")
async def _unit_update(w: World) -> Call:
    unit = (await w.org.unit(RIZHAO_SPOT))["unit"]  # on duty: only its crew on the roster may report
    return Call(
        rizhao(), f"/v1/units/{unit}", {"call_sign": "renamed"}, "unit.update", "unit", unit, RZ, "update"
    )


def _far_window() -> dict[str, str]:
    start = datetime(2032, 1, 1, tzinfo=UTC) + timedelta(days=random.randrange(3000))
    return {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=8)).isoformat()}


@case("dispatch", "POST", "/v1/rosters")
async def _roster_create(w: World) -> Call:
    unit = (await w.org.unit(RIZHAO_SPOT))["unit"]  # on duty: only its crew on the roster may report
    body = {"unit_id": unit} | _far_window()
    return Call(rizhao(), "/v1/rosters", body, "roster.create", "roster", _created_id, RZ, "create")


@case("dispatch", "DELETE", "/v1/rosters/{roster_id}")
async def _roster_delete(w: World) -> Call:
    unit = (await w.org.unit(RIZHAO_SPOT))["unit"]  # on duty: only its crew on the roster may report
    roster = str((await w.org.post("/v1/rosters", {"unit_id": unit} | _far_window()))["id"])
    return Call(rizhao(), f"/v1/rosters/{roster}", None, "roster.delete", "roster", roster, RZ, "delete")


# -- dispatch: shift plans -----------------------------------------------------------------------


def _plan_body() -> dict[str, Any]:
    day = datetime(2033, 1, 1, tzinfo=UTC).date() + timedelta(days=random.randrange(3000))
    return {"admin_code": RZ, "demand": [1, 1], "shift_hours": 2, "start_date": day.isoformat()}


@case("dispatch", "POST", "/v1/shift-plans")
async def _plan_create(w: World) -> Call:
    return Call(
        rizhao("dispatcher"),
        "/v1/shift-plans",
        _plan_body(),
        "shift_plan.create",
        "shift_plan",
        _created_id,
        RZ,
        "create",
    )


@case("dispatch", "POST", "/v1/shift-plans/{plan_id}/apply")
async def _plan_apply(w: World) -> Call:
    plan = str((await w.org.post("/v1/shift-plans", _plan_body()))["id"])
    return Call(
        rizhao(), f"/v1/shift-plans/{plan}/apply", None, "shift_plan.apply", "shift_plan", plan, RZ, "act"
    )


# -- dispatch: tasks and the patrol protocol -----------------------------------------------------


async def _task(w: World, *, spare: bool = False) -> dict[str, Any]:
    """A fresh assigned task in Rizhao (and an idle unit beside it when ``spare``)."""
    spot = somewhere_near(RIZHAO_SPOT)
    await w.org.unit(spot)
    if spare:
        await w.org.unit(spot, offset_km=2)
    alert = make_alert(spot)
    assert await intake(w.apps["dispatch"], alert) == "assigned"
    async with w.client("dispatch") as c:
        task = await task_for(c, alert.id)
    assert task is not None
    return task


async def _patrol_step(w: World, task: dict[str, Any], path: str, body: Any = None) -> None:
    async with w.client("dispatch") as c:
        r = await c.post(
            f"/v1/patrol/tasks/{task['id']}/{path}",
            json=body,
            headers=crew_bearer("patrol_officer", RZ, task["unit_id"]),
        )
    assert r.status_code == 200, r.text


@case("dispatch", "POST", "/v1/tasks/{task_id}/reassign")
async def _reassign(w: World) -> Call:
    task = await _task(w, spare=True)
    return Call(
        rizhao("dispatcher"),
        f"/v1/tasks/{task['id']}/reassign",
        {"reason": "unit broke down"},
        "task.reassign",
        "task",
        task["id"],
        RZ,
        "update",
    )


async def _waiting_alert(w: World) -> tuple[str, str]:
    """An alert waiting for a unit in Rizhao beside a free unit: (alert id, unit id). Its first task
    is withdrawn in the database, as a unit's breakdown would leave it, so no other unit takes it."""
    task = await _task(w)
    async with w.apps["dispatch"].state.runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE dispatch.tasks SET status = 'cancelled' WHERE id = :t"), {"t": task["id"]}
        )
        await conn.execute(
            text("UPDATE dispatch.alerts SET state = 'pending' WHERE alert_id = :a"), {"a": task["alert_id"]}
        )
    return task["alert_id"], task["unit_id"]


@case("dispatch", "POST", "/v1/dispatch")
async def _dispatch(w: World) -> Call:
    alert_id, unit_id = await _waiting_alert(w)
    return Call(
        rizhao("dispatcher"),
        "/v1/dispatch",
        {"alert_id": alert_id, "unit_id": unit_id, "reason": "the nearest unit is back"},
        "task.dispatch",
        "task",
        lambda r: str(r.json()["task"]["id"]),
        RZ,
        "create",
    )


QD_AID = {
    "lat": 36.40,
    "lon": 120.70,
    "admin_code": "370203",
    "road": "G15",
    "km": 40.0,
}  # far from Qingdao's tests


async def _aid(w: World) -> dict[str, Any]:
    """A proposal that Rizhao borrow a Qingdao unit (on duty, far from the other tests' spots)."""
    alert_id, _ = await _waiting_alert(w)
    unit = (await w.org.unit(QD_AID, capabilities=("breathalyser",)))["unit"]
    async with w.client("dispatch") as c:
        r = await c.post(
            "/v1/dispatch/mutual-aid",
            json={"alert_id": alert_id, "unit_id": unit, "reason": "Rizhao's units are all out"},
            headers=bearer("dispatcher", "3711"),
        )
    assert r.status_code == 201, r.text
    return dict(r.json())


@case("dispatch", "POST", "/v1/dispatch/mutual-aid")
async def _aid_propose(w: World) -> Call:
    alert_id, _ = await _waiting_alert(w)
    unit = (await w.org.unit(QD_AID, on_duty=False))["unit"]
    return Call(
        rizhao("dispatcher"),
        "/v1/dispatch/mutual-aid",
        {"alert_id": alert_id, "unit_id": unit, "reason": "Rizhao's units are all out"},
        "mutual_aid.propose",
        "mutual_aid",
        lambda r: str(r.json()["id"]),
        RZ,
        "create",
    )


@case("dispatch", "POST", "/v1/dispatch/mutual-aid/{aid_id}/accept")
async def _aid_accept(w: World) -> Call:
    aid = await _aid(w)
    return Call(
        Actor("city_commander", "3702"),
        f"/v1/dispatch/mutual-aid/{aid['id']}/accept",
        {"reason": "car free"},
        "mutual_aid.accept",
        "mutual_aid",
        aid["id"],
        "370203",
        "update",
    )


@case("dispatch", "POST", "/v1/dispatch/mutual-aid/{aid_id}/decline")
async def _aid_decline(w: World) -> Call:
    aid = await _aid(w)
    return Call(
        Actor("city_commander", "3702"),
        f"/v1/dispatch/mutual-aid/{aid['id']}/decline",
        {"reason": "needed at home"},
        "mutual_aid.decline",
        "mutual_aid",
        aid["id"],
        "370203",
        "update",
    )


@case("dispatch", "POST", "/v1/dispatch/escalate")
async def _escalate(w: World) -> Call:
    task = await _task(w)
    return Call(
        rizhao("dispatcher"),
        "/v1/dispatch/escalate",
        {"task_id": task["id"], "reason": "suspect fled towards the motorway"},
        "task.escalate",
        "task",
        task["id"],
        RZ,
        "update",
    )


@case("dispatch", "POST", "/v1/patrol/tasks/{task_id}/sign")
async def _sign(w: World) -> Call:
    task = await _task(w)
    return Call(
        rizhao("patrol_officer", task["unit_id"]),
        f"/v1/patrol/tasks/{task['id']}/sign",
        None,
        "task.sign",
        "task",
        task["id"],
        RZ,
        "update",
    )


@case("dispatch", "POST", "/v1/patrol/tasks/{task_id}/status")
async def _status(w: World) -> Call:
    task = await _task(w)
    await _patrol_step(w, task, "sign")
    return Call(
        rizhao("auxiliary_officer", task["unit_id"]),
        f"/v1/patrol/tasks/{task['id']}/status",
        {"status": "en_route"},
        "task.en_route",
        "task",
        task["id"],
        RZ,
        "update",
    )


@case("dispatch", "POST", "/v1/patrol/tasks/{task_id}/feedback")
async def _feedback(w: World) -> Call:
    task = await _task(w)
    await _patrol_step(w, task, "sign")
    return Call(
        rizhao("patrol_officer", task["unit_id"]),
        f"/v1/patrol/tasks/{task['id']}/feedback",
        {"outcome": "ticketed", "note": "BAC 92"},
        "task.feedback",
        "task",
        task["id"],
        RZ,
        "update",
    )


@case("dispatch", "POST", "/v1/patrol/location")
async def _location(w: World) -> Call:
    unit = (await w.org.unit(RIZHAO_SPOT))["unit"]  # on duty: only its crew on the roster may report
    body = {"lat": 35.43, "lon": 119.55, "at": datetime.now(UTC).isoformat()}
    return Call(
        rizhao("patrol_officer", unit), "/v1/patrol/location", body, "unit.location", "unit", unit, RZ, "act"
    )


# -- the tests -----------------------------------------------------------------------------------


def _service(app: Any) -> str:
    return str(app.title).removeprefix("qzx ")


def mutating_routes(app: Any) -> set[tuple[str, str]]:
    return {
        (method, route.path)
        for route in api_routes(app)
        if route.path.startswith("/v1/")
        for method in route.methods & MUTATING
    }


HZ_TOWNSHIP = "370202001"  # 香港中路街道, 市南区
HZ_VILLAGE = "370202001001"  # 云霄路社区


def _assignment(owner: str = HZ_TOWNSHIP) -> dict[str, Any]:
    deadline = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    return {
        "owner_code": owner,
        "responsible_body": "街道办",
        "responsible_person": "李娜",
        "deadline": deadline,
    }


async def _hazard_at(w: World, steps: list[str]) -> str:
    """A hazard assigned to the township and moved through ``steps`` (start, complete, verify)."""
    hazard = await _hazard(w)
    async with w.client("alerts") as c:
        boss = bearer("city_commander", "3702")
        r = await c.post(f"/v1/hazards/{hazard}/assign", json=_assignment(), headers=boss)
        assert r.status_code == 200, r.text
        for step in steps:
            r = await c.post(f"/v1/hazards/{hazard}/{step}", json={}, headers=boss)
            assert r.status_code == 200, r.text
    return hazard


def _hazard_step(hazard: str, step: str, body: dict[str, Any], *, actor: Actor = QD_BOSS) -> Call:
    return Call(
        actor, f"/v1/hazards/{hazard}/{step}", body, f"hazard.{step}", "hazard", hazard, HZ_TOWNSHIP, "update"
    )


@case("alerts", "POST", "/v1/hazards/{hazard_id}/assign")
async def _hazard_assign(w: World) -> Call:
    hazard = await _hazard(w)
    return Call(
        QD_BOSS,
        f"/v1/hazards/{hazard}/assign",
        _assignment(),
        "hazard.assign",
        "hazard",
        hazard,
        HZ_TOWNSHIP,
        "update",
    )


@case("alerts", "POST", "/v1/hazards/{hazard_id}/start")
async def _hazard_start(w: World) -> Call:
    township = Actor("city_commander", HZ_TOWNSHIP)
    return _hazard_step(await _hazard_at(w, []), "start", {"note": "开工"}, actor=township)


@case("alerts", "POST", "/v1/hazards/{hazard_id}/complete")
async def _hazard_complete(w: World) -> Call:
    evidence = {"note": "已整改", "evidence": ["https://evidence.example/after.jpg"]}
    return _hazard_step(await _hazard_at(w, ["start"]), "complete", evidence)


@case("alerts", "POST", "/v1/hazards/{hazard_id}/verify")
async def _hazard_verify(w: World) -> Call:
    return _hazard_step(await _hazard_at(w, ["start", "complete"]), "verify", {"note": "验收合格"})


@case("alerts", "POST", "/v1/hazards/{hazard_id}/reopen")
async def _hazard_reopen(w: World) -> Call:
    return _hazard_step(
        await _hazard_at(w, ["start", "complete", "verify"]), "reopen", {"note": "再次发生事故"}
    )


async def test_every_mutating_route_has_an_audit_case(service_app: Any) -> None:
    name = _service(service_app)
    routes = mutating_routes(service_app)
    table = {(m, p) for (s, m, p) in CASES if s == name}
    assert routes - table == set(), "mutating routes without an audit case: add one to CASES"
    assert table - routes == set(), "audit cases for routes that no longer exist"
    assert not {p for _, p in routes if p.startswith("/v1/audit")}, "the audit log must be read-only"


@pytest.mark.parametrize("key", sorted(CASES), ids=lambda k: f"{k[0]} {k[1]} {k[2]}")
async def test_each_change_leaves_exactly_one_complete_audit_record(
    key: tuple[str, str, str], ingest_app: Any, alerts_app: Any, dispatch_app: Any
) -> None:
    service, method, _ = key
    world = World({"ingest": ingest_app, "alerts": alerts_app, "dispatch": dispatch_app})
    call = await CASES[key](world)
    rid = request_id()
    auth = call.actor.auth()
    headers = auth.pop("headers", {}) | {"X-Request-Id": rid}
    content = orjson.dumps(call.body) if call.body is not None else None
    started = datetime.now(UTC)
    async with world.client(service) as c:
        r = await c.request(
            method, call.path, content=content, headers=headers | {"Content-Type": "application/json"}, **auth
        )
    finished = datetime.now(UTC)
    assert 200 <= r.status_code < 300, r.text

    rows = await audit_rows(world.apps[service], service, rid)  # each service's schema is its name
    assert len(rows) == 1, rows
    row = rows[0]
    target_id = call.target_id(r) if callable(call.target_id) else call.target_id
    actor = call.actor
    assert (row["actor"], row["role"], row["unit_id"], row["jur"]) == (
        actor.name,
        actor.role,
        actor.unit_id,
        actor.jur,
    )
    assert (row["action"], row["target_type"], row["target_id"]) == (call.action, call.target_type, target_id)
    assert row["admin_code"] == call.admin_code
    assert (row["request_id"], row["client_addr"]) == (rid, "127.0.0.1")
    assert started - timedelta(seconds=2) <= row["at"] <= finished + timedelta(seconds=2)
    before, after = row["before"], row["after"]
    expected = {
        "create": before is None and after is not None,
        "update": before is not None and after is not None and before != after,
        "delete": before is not None and after is None,
        "act": after is not None,
    }
    assert expected[call.change], (call.change, before, after)


async def test_a_replayed_patrol_action_is_recorded_once(dispatch_app: Any) -> None:
    """A retry under the same Idempotency-Key replays the stored answer and changes nothing."""
    world = World({"dispatch": dispatch_app})
    task = await _task(world)
    headers = crew_bearer("patrol_officer", RZ, task["unit_id"]) | {
        "Idempotency-Key": f"k-{uuid.uuid4().hex}"
    }
    rids = [request_id(), request_id()]
    async with world.client("dispatch") as c:
        for rid in rids:
            r = await c.post(f"/v1/patrol/tasks/{task['id']}/sign", headers=headers | {"X-Request-Id": rid})
            assert r.status_code == 200 and r.json()["status"] == "signed"
    assert r.headers.get("Idempotent-Replayed") == "true"
    assert [len(await audit_rows(dispatch_app, "dispatch", rid)) for rid in rids] == [1, 0]


async def test_the_audit_logs_of_alerts_and_dispatch_cannot_be_altered(
    alerts_app: Any, dispatch_app: Any
) -> None:
    for schema, app in (("alerts", alerts_app), ("dispatch", dispatch_app)):
        await _append_only(schema, app)


async def _append_only(schema: str, app: Any) -> None:
    # A row to alter: a row trigger fires only for rows an UPDATE or DELETE reaches.
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(
            text(
                f"INSERT INTO {schema}.audit_log (actor, action, target_type, target_id) "
                "VALUES ('test', 'test.append_only', 'test', 'x')"
            )
        )
    for statement in (
        f"UPDATE {schema}.audit_log SET actor = 'someone-else'",
        f"DELETE FROM {schema}.audit_log",
        f"TRUNCATE {schema}.audit_log",
    ):
        with pytest.raises(DBAPIError, match=r"append-only|permission denied"):
            async with app.state.runtime.engine.begin() as conn:
                await conn.execute(text(statement))
