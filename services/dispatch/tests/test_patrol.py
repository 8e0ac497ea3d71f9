"""The patrol-app protocol: long-poll wake-up (in process and through another listener),
offline resync, idempotent actions, the auxiliary rule, own-unit scoping, location."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from qzx_common.settings import to_plain_url
from qzx_dispatch.patrol.notifier import UnitNotifier
from qzx_dispatch.tasks.events import CHANNEL

from .conftest import OffsetClock, Org, assign, bump, make_alert

pytestmark = [pytest.mark.db]
Api = Callable[..., httpx.AsyncClient]


async def test_a_waiting_long_poll_returns_within_a_second_of_the_assignment(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    unit = await org.unit()
    phone = api(role="patrol_officer", jur="3701", unit_id=unit, sub=org.member(unit))
    first = (await phone.get("/v1/patrol/tasks", params={"cursor": 0, "wait": 0})).json()
    assert first == {"tasks": [], "cursor": 0}
    poll = asyncio.create_task(phone.get("/v1/patrol/tasks", params={"cursor": 0, "wait": 20}))
    await asyncio.sleep(0.5)
    assert not poll.done()
    alert = make_alert()
    assert await assign(fresh, alert, clock=clock) == "assigned"
    committed = time.monotonic()
    body = (await poll).json()
    assert time.monotonic() - committed < 1.0
    [task] = body["tasks"]
    assert task["alert_id"] == alert.id and task["status"] == "assigned" and body["cursor"] == 1


async def test_a_polled_task_carries_its_alerts_factors_latest_events_and_pictures(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    unit = await org.unit()
    phone = api(role="patrol_officer", jur="3701", unit_id=unit, sub=org.member(unit))
    alert = make_alert(event_ids=[f"e-{i}" for i in range(5)])  # as published before alerts had pictures
    await assign(fresh, alert, clock=clock)
    [task] = (await phone.get("/v1/patrol/tasks", params={"cursor": 0})).json()["tasks"]
    assert task["alert"] == {
        "plate": "鲁A12345",
        "violations": ["drunk_driving"],
        "factors": [{"name": "bac", "value": 95, "contribution": 60.0, "why": "BAC 95 ≥ 80: drunk driving"}],
        "event_ids": ["e-2", "e-3", "e-4"],
        "evidence": [],
    }
    # a later version of the alert: the phone is told its latest factors and pictures, which come
    # with the task whatever district's camera took them (the officer need not read its events)
    evidence = [{"event_id": "e-5", "uri": "https://cam.example/370112/e-5.jpg", "sha256": "b" * 64}]
    await assign(
        fresh, bump(alert, event_ids=[*alert.event_ids, "e-5"], factors=[], evidence=evidence), clock=clock
    )
    [again] = (await phone.get("/v1/patrol/tasks", params={"cursor": 0})).json()["tasks"]
    assert again["alert"]["event_ids"] == ["e-3", "e-4", "e-5"] and again["alert"]["factors"] == []
    assert again["alert"]["evidence"] == evidence


async def test_a_held_long_poll_is_counted_while_it_waits(fresh: Any, api: Api, org: Org) -> None:
    unit = await org.unit()
    phone = api(role="patrol_officer", jur="3701", unit_id=unit, sub=org.member(unit))
    before = REGISTRY.get_sample_value("qzx_patrol_long_polls") or 0.0
    poll = asyncio.create_task(phone.get("/v1/patrol/tasks", params={"cursor": 0, "wait": 2}))
    await asyncio.sleep(0.5)
    assert not poll.done() and REGISTRY.get_sample_value("qzx_patrol_long_polls") == before + 1
    assert (await poll).status_code == 200
    assert REGISTRY.get_sample_value("qzx_patrol_long_polls") == before


async def test_a_wait_with_no_change_holds_and_then_returns_the_same_cursor(
    fresh: Any, api: Api, org: Org
) -> None:
    unit = await org.unit()
    phone = api(role="patrol_officer", jur="3701", unit_id=unit, sub=org.member(unit))
    started = time.monotonic()
    body = (await phone.get("/v1/patrol/tasks", params={"cursor": 0, "wait": 1})).json()
    assert time.monotonic() - started >= 0.9
    assert body == {"tasks": [], "cursor": 0}


async def test_a_listener_on_another_connection_is_woken_by_the_commit(
    fresh: Any, dispatch_settings: Any, org: Org, clock: OffsetClock
) -> None:
    """What another replica sees: NOTIFY reaches every LISTENing connection at commit."""
    unit = await org.unit()
    other = UnitNotifier(dsn=to_plain_url(dispatch_settings.database_url), channel=CHANNEL)
    await other.start()
    try:
        with other.subscription(unit) as woken:
            await assign(fresh, make_alert(), clock=clock)
            await asyncio.wait_for(woken.wait(), timeout=1.0)
    finally:
        await other.stop()


async def test_an_offline_phone_gets_exactly_what_changed_since_its_cursor(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    unit = await org.unit()
    phone = api(role="patrol_officer", jur="3701", unit_id=unit, sub=org.member(unit))
    dispatcher = api(role="dispatcher", jur="3701")
    a = make_alert()
    await assign(fresh, a, clock=clock)
    seen = (await phone.get("/v1/patrol/tasks", params={"cursor": 0})).json()
    cursor = seen["cursor"]
    task_a = seen["tasks"][0]["id"]
    # The phone goes offline; meanwhile its task is taken away, and two more come and go.
    await org.unit(lat=36.70)  # somewhere to reassign to
    r = await dispatcher.post(f"/v1/tasks/{task_a}/reassign", json={"reason": "closer unit free"})
    assert r.status_code == 200, r.text
    b, c = make_alert(), make_alert()
    await assign(fresh, b, clock=clock)  # the other unit is busy with A now, so B comes here
    await assign(fresh, bump(b, status="dismissed"), clock=clock)  # B cancelled
    await assign(fresh, c, clock=clock)  # C assigned here
    back = (await phone.get("/v1/patrol/tasks", params={"cursor": cursor, "wait": 5})).json()
    got = {t["alert_id"]: (t["status"], t["version"]) for t in back["tasks"]}
    assert got == {a.id: ("reassigned", 2), b.id: ("cancelled", 2), c.id: ("assigned", 1)}
    assert len(back["tasks"]) == 3
    again = (await phone.get("/v1/patrol/tasks", params={"cursor": back["cursor"], "wait": 0})).json()
    assert again == {"tasks": [], "cursor": back["cursor"]}
    # A cursor from the future (the unit's history was reset) resynchronises from scratch.
    reset = (await phone.get("/v1/patrol/tasks", params={"cursor": 10_000})).json()
    assert {t["alert_id"] for t in reset["tasks"]} == {a.id, b.id, c.id}


async def test_sign_status_feedback_each_idempotent_under_its_key(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    unit = await org.unit()
    phone = api(role="patrol_officer", jur="3701", unit_id=unit, sub=org.member(unit))
    await assign(fresh, make_alert(), clock=clock)
    task = (await phone.get("/v1/patrol/tasks")).json()["tasks"][0]
    url = f"/v1/patrol/tasks/{task['id']}"
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = await phone.post(f"{url}/sign", headers=key)
    retry = await phone.post(f"{url}/sign", headers=key)
    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json() and retry.headers["Idempotent-Replayed"] == "true"
    assert first.json()["status"] == "signed" and first.json()["version"] == 2
    again = await phone.post(f"{url}/sign")
    assert again.status_code == 409 and again.json()["error"] == "invalid_transition"
    reused = await phone.post(f"{url}/status", headers=key, json={"status": "en_route"})
    assert reused.status_code == 409 and reused.json()["error"] == "idempotency_key_reused"

    k2 = {"Idempotency-Key": uuid.uuid4().hex}
    both = await asyncio.gather(
        *(phone.post(f"{url}/status", headers=k2, json={"status": "on_scene"}) for _ in range(3))
    )
    assert {r.status_code for r in both} == {200}
    assert len({r.json()["version"] for r in both}) == 1  # applied once, replayed twice

    k3 = {"Idempotency-Key": uuid.uuid4().hex}
    fb = {"outcome": "ticketed", "note": "BAC 95, licence seized"}
    done = await phone.post(f"{url}/feedback", headers=k3, json=fb)
    assert (await phone.post(f"{url}/feedback", headers=k3, json=fb)).json() == done.json()
    assert done.json()["status"] == "resolved" and done.json()["outcome"] == "ticketed"
    late = await phone.post(f"{url}/status", json={"status": "on_scene"})
    assert late.status_code == 409 and late.json()["error"] == "task_closed"
    bad = await phone.post(f"{url}/feedback", json={"outcome": "arrested"})
    assert bad.status_code == 422


async def test_patrol_roles_see_and_touch_only_their_own_unit(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    mine = await org.unit()
    theirs = await org.unit(lat=36.9)
    await assign(fresh, make_alert(), clock=clock)
    me = api(role="patrol_officer", jur="3701", unit_id=mine, sub=org.member(mine))
    them = api(role="patrol_officer", jur="3701", unit_id=theirs, sub=org.member(theirs))
    task = (await me.get("/v1/patrol/tasks")).json()["tasks"][0]
    assert (await them.get("/v1/patrol/tasks")).json()["tasks"] == []
    r = await them.post(f"/v1/patrol/tasks/{task['id']}/sign")
    assert r.status_code == 404 and r.json()["error"] == "task_not_found"
    r = await api(role="dispatcher", jur="37").get("/v1/patrol/tasks")
    assert r.status_code == 403


async def test_an_auxiliary_may_not_sign_enforcement_without_a_sworn_officer_on_the_roster(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    unit = await org.unit(on_duty=False)
    admin = api(role="city_commander", jur="3701")
    members = (await admin.get(f"/v1/units/{unit}")).json()["members"]
    sworn = [m["id"] for m in members if m["kind"] == "sworn"]
    aux = [m["id"] for m in members if m["kind"] == "auxiliary"]
    now = clock.now()
    for start, end, crew in ((-1, 1, sworn + aux), (1, 9, aux)):
        r = await admin.post(
            "/v1/rosters",
            json={
                "unit_id": unit,
                "starts_at": (now + timedelta(hours=start)).isoformat(),
                "ends_at": (now + timedelta(hours=end)).isoformat(),
                "crew": crew,
            },
        )
        assert r.status_code == 201, r.text
    await assign(fresh, make_alert(), clock=clock)
    auxiliary = api(role="auxiliary_officer", jur="3701", unit_id=unit, sub=aux[0])
    task = (await auxiliary.get("/v1/patrol/tasks")).json()["tasks"][0]
    clock.advance(2 * 3600)  # the sworn officer's shift is over; only the auxiliary crew is on board
    r = await auxiliary.post(f"/v1/patrol/tasks/{task['id']}/sign")
    assert r.status_code == 403 and r.json()["error"] == "auxiliary_without_sworn"
    r = await auxiliary.post(f"/v1/patrol/tasks/{task['id']}/status", json={"status": "en_route"})
    assert r.status_code == 409  # not signed yet: moving is fine, but signing comes first
    clock.advance(-2 * 3600)  # back inside the mixed shift: now the auxiliary may sign
    r = await auxiliary.post(f"/v1/patrol/tasks/{task['id']}/sign")
    assert r.status_code == 200, r.text


async def test_an_auxiliary_only_unit_gets_ebike_persuasion_and_closes_it(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    unit = await org.unit(sworn=False, capabilities=("ebike",), vehicle="motorcycle")
    drunk = make_alert()
    assert await assign(fresh, drunk, clock=clock) == "pending"
    ebike = make_alert(violations=["ebike_wrong_way"], priority="P3", plate=None)
    assert await assign(fresh, ebike, clock=clock) == "assigned"
    auxiliary = api(role="auxiliary_officer", jur="3701", unit_id=unit, sub=org.member(unit, "auxiliary"))
    [task] = (await auxiliary.get("/v1/patrol/tasks")).json()["tasks"]
    assert task["alert_id"] == ebike.id and task["enforcement"] is False
    assert (await auxiliary.post(f"/v1/patrol/tasks/{task['id']}/sign")).status_code == 200
    r = await auxiliary.post(f"/v1/patrol/tasks/{task['id']}/feedback", json={"outcome": "warned"})
    assert r.status_code == 200 and r.json()["status"] == "resolved"


async def test_location_updates_keep_the_newest_and_steer_assignment(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    near_home = await org.unit(lat=36.66, lon=117.13)
    roaming = await org.unit(lat=37.0, lon=117.5)
    phone = api(role="patrol_officer", jur="3701", unit_id=roaming, sub=org.member(roaming))
    now = clock.now()
    r = await phone.post("/v1/patrol/location", json={"lat": 36.6512, "lon": 117.1201, "at": now.isoformat()})
    assert r.status_code == 200 and r.json()["applied"] is True
    stale = {"lat": 37.1, "lon": 117.6, "at": (now - timedelta(minutes=1)).isoformat()}
    assert (await phone.post("/v1/patrol/location", json=stale)).json()["applied"] is False
    bad = await phone.post("/v1/patrol/location", json={"lat": 10.0, "lon": 117.0, "at": now.isoformat()})
    assert bad.status_code == 422
    alert = make_alert()
    await assign(fresh, alert, clock=clock)
    board = (await api(role="dispatcher", jur="3701").get("/v1/units/board")).json()
    states = {u["unit_id"]: u["state"] for u in board["units"]}
    assert states == {roaming: "busy", near_home: "available"}


async def test_only_a_crew_member_on_the_current_roster_may_act_for_the_unit(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    unit = await org.unit()
    other = await org.unit(lat=36.9)
    await assign(fresh, make_alert(), clock=clock)
    crew = api(role="patrol_officer", jur="3701", unit_id=unit, sub=org.member(unit))
    task = (await crew.get("/v1/patrol/tasks")).json()["tasks"][0]
    here = {"lat": 36.65, "lon": 117.12, "at": clock.now().isoformat()}
    # A token naming the unit but someone not on its crew: a stranger, another unit's officer.
    for sub in ("someone-else", org.member(other)):
        phone = api(role="patrol_officer", jur="3701", unit_id=unit, sub=sub)
        for r in (
            await phone.post(f"/v1/patrol/tasks/{task['id']}/sign"),
            await phone.post("/v1/patrol/location", json=here),
        ):
            assert (r.status_code, r.json()["error"]) == (403, "not_on_crew"), r.text
    # The crew's own officer after the shift is over is not on the current roster either.
    clock.advance(8 * 3600)
    r = await crew.post(f"/v1/patrol/tasks/{task['id']}/sign")
    assert (r.status_code, r.json()["error"]) == (403, "not_on_crew")
    clock.advance(-8 * 3600)
    r = await crew.post(f"/v1/patrol/tasks/{task['id']}/sign")
    assert r.status_code == 200 and r.json()["status"] == "signed"


async def test_a_patrol_token_claiming_sworn_for_an_auxiliary_still_needs_a_sworn_officer(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    """The officer record decides who is an auxiliary, not the token's role claim."""
    unit = await org.unit(on_duty=False)
    aux = org.member(unit, "auxiliary")
    now = clock.now()
    r = await api(role="city_commander", jur="3701").post(
        "/v1/rosters",
        json={
            "unit_id": unit,
            "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
            "crew": [org.member(unit), aux],
        },
    )
    assert r.status_code == 201, r.text
    await assign(fresh, make_alert(), clock=clock)
    phone = api(role="patrol_officer", jur="3701", unit_id=unit, sub=aux)
    task = (await phone.get("/v1/patrol/tasks")).json()["tasks"][0]
    assert (await phone.post(f"/v1/patrol/tasks/{task['id']}/sign")).status_code == 200
