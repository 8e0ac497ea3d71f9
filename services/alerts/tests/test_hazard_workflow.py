"""The rectification workflow: every transition with its evidence and history, the states each may
start from (409 otherwise), owners from the official division codes, overdue escalation (once) and
the supervision list, and jurisdiction scoping at township and village level."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from qzx_alerts.hazards.overdue import check_once, check_periodically

pytestmark = [pytest.mark.db]

COUNTY = "370202"  # 市南区, Qingdao
TOWNSHIP = "370202001"  # 香港中路街道
VILLAGE = "370202001001"  # 云霄路社区
OTHER_VILLAGE = "370202001004"  # 江西路社区
OTHER_TOWNSHIP = "370202002"  # 八大峡街道
OTHER_TOWNSHIP_VILLAGE = "370202002008"  # 团岛社区


def _point() -> dict[str, Any]:
    return {
        "name": f"路口 junction {uuid.uuid4().hex[:6]}",
        "lat": 36.07,
        "lon": 120.38,
        "risk_level": "high",
        "admin_code": COUNTY,
        "hazard_type": "junction",
    }


def _assignment(owner: str, *, hours: float = 72) -> dict[str, Any]:
    return {
        "owner_code": owner,
        "responsible_body": "街道办事处 street office",
        "responsible_person": "张伟",
        "deadline": (datetime.now(UTC) + timedelta(hours=hours)).isoformat(),
        "note": "加装信号灯 add signals",
    }


async def _new_hazard(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.post("/v1/hazards", json=_point())
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_every_transition_with_evidence_history_and_audit(
    alerts: Any, client: httpx.AsyncClient, client_for: Any
) -> None:
    hazard = await _new_hazard(client)
    hid = hazard["id"]
    assert hazard["state"] == "identified" and hazard["owner_code"] == COUNTY
    assert hazard["hazard_type"] == "junction"

    async with (
        client_for(role="city_commander", jur=COUNTY, sub="county-1") as county,
        client_for(role="city_commander", jur=TOWNSHIP, sub="town-1") as town,
    ):
        r = await county.post(f"/v1/hazards/{hid}/start", json={})
        assert r.status_code == 409 and r.json()["error"] == "transition_not_allowed"
        r = await county.post(f"/v1/hazards/{hid}/assign", json=_assignment("370202999"))
        assert r.status_code == 422 and r.json()["error"] == "unknown_division"
        r = await county.post(f"/v1/hazards/{hid}/assign", json=_assignment("370203001"))
        assert r.status_code == 403 and r.json()["error"] == "out_of_jurisdiction"
        r = await client.post(f"/v1/hazards/{hid}/assign", json=_assignment("370203001"))
        assert r.status_code == 422 and r.json()["error"] == "owner_outside_county"
        r = await county.post(f"/v1/hazards/{hid}/assign", json=_assignment(TOWNSHIP, hours=-1))
        assert r.status_code == 422 and r.json()["error"] == "deadline_passed"

        r = await county.post(f"/v1/hazards/{hid}/assign", json=_assignment(TOWNSHIP))
        assert r.status_code == 200, r.text
        assigned = r.json()
        assert assigned["state"] == "assigned" and assigned["owner_code"] == TOWNSHIP
        assert assigned["owner_name"] == "香港中路街道" and assigned["responsible_person"] == "张伟"

        photo = "https://evidence.example/hz/1.jpg"
        assert (await town.post(f"/v1/hazards/{hid}/start", json={"note": "施工"})).json()[
            "state"
        ] == "rectifying"
        r = await town.post(f"/v1/hazards/{hid}/complete", json={"note": "已完成", "evidence": [photo]})
        assert r.json()["state"] == "rectified"
        r = await town.post(f"/v1/hazards/{hid}/verify", json={})
        assert r.status_code == 403 and r.json()["error"] == "above_owner_required"
        r = await town.post(f"/v1/hazards/{hid}/complete", json={})
        assert r.status_code == 409
        r = await county.post(
            f"/v1/hazards/{hid}/verify", json={"evidence": ["https://evidence.example/v.pdf"]}
        )
        assert r.json()["state"] == "verified"
        r = await county.post(f"/v1/hazards/{hid}/reopen", json={})
        assert r.status_code == 422  # a reopening says why
        r = await county.post(f"/v1/hazards/{hid}/reopen", json={"note": "事故复发 accidents again"})
        assert r.json()["state"] == "reopened"
        r = await county.post(f"/v1/hazards/{hid}/assign", json=_assignment(VILLAGE))
        assert r.json()["state"] == "assigned" and r.json()["owner_name"] == "云霄路社区"

        history = (await county.get(f"/v1/hazards/{hid}/history")).json()["items"]
    steps = [(h["kind"], h["from_state"], h["to_state"]) for h in history]
    assert steps == [
        ("assign", "identified", "assigned"),
        ("start", "assigned", "rectifying"),
        ("complete", "rectifying", "rectified"),
        ("verify", "rectified", "verified"),
        ("reopen", "verified", "reopened"),
        ("assign", "reopened", "assigned"),
    ]
    assert history[2]["evidence"] == [photo] and history[2]["actor"] == "town-1"
    assert history[0]["detail"]["owner_code"] == TOWNSHIP

    async with alerts.state.runtime.engine.connect() as conn:
        audited = (
            await conn.execute(
                text(
                    "SELECT action, actor, admin_code, after FROM alerts.audit_log WHERE target_id = :id ORDER BY id"
                ),
                {"id": hid},
            )
        ).all()
    assert [a.action for a in audited] == [
        "hazard.create",
        "hazard.assign",
        "hazard.start",
        "hazard.complete",
        "hazard.verify",
        "hazard.reopen",
        "hazard.assign",
    ]
    complete = audited[3]
    assert complete.actor == "town-1" and complete.admin_code == TOWNSHIP
    assert complete.after["evidence"] == [photo] and complete.after["state"] == "rectified"


async def test_overdue_hazards_escalate_once_and_are_listed_for_supervision(
    alerts: Any, client: httpx.AsyncClient, client_for: Any
) -> None:
    sessions = alerts.state.runtime.sessions
    overdue, done = await _new_hazard(client), await _new_hazard(client)
    for h in (overdue, done):
        r = await client.post(f"/v1/hazards/{h['id']}/assign", json=_assignment(VILLAGE, hours=1))
        assert r.status_code == 200
    for step in ("start", "complete"):
        assert (await client.post(f"/v1/hazards/{done['id']}/{step}", json={})).status_code == 200

    later = datetime.now(UTC) + timedelta(hours=2)
    assert overdue["id"] not in await check_once(sessions)  # not yet past its deadline
    first = await check_once(sessions, now=later)
    assert overdue["id"] in first and done["id"] not in first  # a rectified hazard is not overdue
    assert overdue["id"] not in await check_once(sessions, now=later + timedelta(minutes=1))  # once

    async with client_for(role="city_commander", jur=TOWNSHIP) as town:
        listed = (await town.get("/v1/hazards/supervision")).json()["items"]
        mine = next(h for h in listed if h["id"] == overdue["id"])
        assert mine["supervised_by"] == TOWNSHIP and mine["escalated_at"] is not None
        assert done["id"] not in {h["id"] for h in listed}
        history = (await town.get(f"/v1/hazards/{overdue['id']}/history")).json()["items"]
    assert [h["kind"] for h in history] == ["assign", "escalate"]
    assert history[1]["actor"] == "system:hazard-overdue-check"

    # rectified: off the list; reopened past the deadline: escalated anew
    for step in ("start", "complete"):
        assert (await client.post(f"/v1/hazards/{overdue['id']}/{step}", json={})).status_code == 200
    supervised = (await client.get("/v1/hazards/supervision", params={"admin_code": TOWNSHIP})).json()[
        "items"
    ]
    assert overdue["id"] not in {h["id"] for h in supervised}
    r = await client.post(f"/v1/hazards/{overdue['id']}/reopen", json={"note": "未整改到位"})
    assert r.json()["escalated_at"] is None
    assert overdue["id"] in await check_once(sessions, now=later)
    async with alerts.state.runtime.engine.connect() as conn:
        escalations = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM alerts.audit_log WHERE target_id = :id AND action = 'hazard.escalate'"
                ),
                {"id": overdue["id"]},
            )
        ).scalar_one()
    assert escalations == 2


async def test_township_and_village_tokens_see_only_their_own_hazards(
    client: httpx.AsyncClient, client_for: Any
) -> None:
    mine, sibling, township_level, elsewhere = [await _new_hazard(client) for _ in range(4)]
    for h, owner in (
        (mine, VILLAGE),
        (sibling, OTHER_VILLAGE),
        (township_level, TOWNSHIP),
        (elsewhere, OTHER_TOWNSHIP_VILLAGE),
    ):
        r = await client.post(f"/v1/hazards/{h['id']}/assign", json=_assignment(owner))
        assert r.status_code == 200, (owner, r.text)

    async def seen(c: httpx.AsyncClient, **params: str) -> set[str]:
        r = await c.get("/v1/hazards", params={"limit": "200"} | params)
        assert r.status_code == 200, r.text
        return {h["id"] for h in r.json()["items"]}

    ids = {h["id"] for h in (mine, sibling, township_level, elsewhere)}
    async with (
        client_for(role="city_commander", jur=VILLAGE) as village,
        client_for(role="city_commander", jur=TOWNSHIP) as town,
        client_for(role="city_commander", jur=COUNTY) as county,
    ):
        assert (await seen(village)) & ids == {mine["id"]}
        assert (await seen(town)) & ids == {mine["id"], sibling["id"], township_level["id"]}
        assert (await seen(town, admin_code=VILLAGE)) & ids == {mine["id"]}
        assert (await seen(county)) & ids == ids
        assert (await village.get(f"/v1/hazards/{sibling['id']}")).status_code == 404
        assert (await village.get(f"/v1/hazards/{sibling['id']}/history")).status_code == 404
        r = await village.post(f"/v1/hazards/{sibling['id']}/start", json={})
        assert r.status_code == 404
        r = await town.post(f"/v1/hazards/{elsewhere['id']}/start", json={})
        assert r.status_code == 404
        # a township cannot hand its hazard to another township's village
        r = await town.post(
            f"/v1/hazards/{township_level['id']}/assign", json=_assignment(OTHER_TOWNSHIP_VILLAGE)
        )
        assert r.status_code == 403 and r.json()["error"] == "out_of_jurisdiction"
        r = await village.get("/v1/hazards", params={"admin_code": OTHER_VILLAGE})
        assert r.status_code == 403
        assert (await village.post(f"/v1/hazards/{mine['id']}/start", json={})).json()[
            "state"
        ] == "rectifying"


async def test_divisions_name_the_townships_and_villages(client: httpx.AsyncClient) -> None:
    r = await client.get(f"/v1/divisions/{TOWNSHIP}")
    assert r.status_code == 200
    body = r.json()
    assert body["parent"] == {"code": TOWNSHIP, "name": "香港中路街道", "level": "township"}
    assert {"code": VILLAGE, "name": "云霄路社区", "level": "village"} in body["items"]
    county = (await client.get(f"/v1/divisions/{COUNTY}")).json()
    assert county["parent"]["name"] == "市南区" and len(county["items"]) >= 10
    assert all(d["level"] == "township" for d in county["items"])
    assert (await client.get("/v1/divisions/370202999")).status_code == 404


async def test_the_periodic_check_escalates_on_its_own_and_stops(
    alerts: Any, client: httpx.AsyncClient
) -> None:
    hazard = await _new_hazard(client)
    assert (
        await client.post(f"/v1/hazards/{hazard['id']}/assign", json=_assignment(TOWNSHIP))
    ).status_code == 200
    async with alerts.state.runtime.engine.begin() as conn:  # its deadline passes
        await conn.execute(
            text("UPDATE alerts.hazards SET deadline = now() - interval '1 minute' WHERE id = :id"),
            {"id": hazard["id"]},
        )
    stopping = asyncio.Event()
    loop = asyncio.create_task(
        check_periodically(alerts.state.runtime.sessions, every_s=0.05, stopping=stopping)
    )
    try:
        for _ in range(100):
            if (await client.get(f"/v1/hazards/{hazard['id']}")).json()["escalated_at"]:
                break
            await asyncio.sleep(0.05)
        got = (await client.get(f"/v1/hazards/{hazard['id']}")).json()
        assert got["escalated_at"] is not None and got["supervised_by"] == COUNTY
    finally:
        stopping.set()
        await asyncio.wait_for(loop, timeout=5)
