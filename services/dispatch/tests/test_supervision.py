"""Shared-credential detection: one person acting from two devices at once, or acting while on no
crew of the token's unit, is recorded (even when the action is refused) and listed for auditors
and commanders within their jurisdiction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from .conftest import OffsetClock, Org, assign, make_alert

pytestmark = [pytest.mark.db]
Api = Callable[..., httpx.AsyncClient]
EVENTS = "/v1/supervision/credential-events"


async def _events(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    r = await client.get(EVENTS, params=params)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_one_officer_on_two_devices_at_once_is_recorded_but_not_stopped(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    unit = await org.unit()
    officer = org.member(unit)
    await assign(fresh, make_alert(), clock=clock)
    phone = api(role="patrol_officer", jur="3701", unit_id=unit, sub=officer)
    task = (await phone.get("/v1/patrol/tasks")).json()["tasks"][0]
    url = f"/v1/patrol/tasks/{task['id']}"
    assert (await phone.post(f"{url}/sign", headers={"X-Device-Id": "phone-A"})).status_code == 200
    clock.advance(60)
    r = await phone.post(f"{url}/status", json={"status": "en_route"}, headers={"X-Device-Id": "phone-B"})
    assert r.status_code == 200, r.text
    auditor = api(role="auditor", jur="37")
    [event] = await _events(auditor)
    assert event["kind"] == "two_devices" and event["officer_id"] == officer
    assert (event["device_id"], event["other_device_id"], event["unit_id"]) == ("phone-B", "phone-A", unit)
    assert event["action"] == f"POST {url}/status" and event["admin_code"] == "370102"
    # The same device again, and another device once the first has been idle past the window: no sign.
    r = await phone.post(f"{url}/status", json={"status": "on_scene"}, headers={"X-Device-Id": "phone-B"})
    assert r.status_code == 200
    clock.advance(fresh.state.settings.shared_credential_window_s + 1)
    r = await phone.post(f"{url}/feedback", json={"outcome": "warned"}, headers={"X-Device-Id": "phone-C"})
    assert r.status_code == 200
    assert len(await _events(auditor)) == 1
    bad = await phone.post("/v1/patrol/location", headers={"X-Device-Id": "bad id"}, json={})
    assert bad.status_code == 422


async def test_acting_while_on_no_crew_is_refused_and_still_recorded(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    unit = await org.unit()
    here = {"lat": 36.65, "lon": 117.12, "at": clock.now().isoformat()}
    borrowed = api(role="patrol_officer", jur="3701", unit_id=unit, sub="officer-of-nowhere")
    r = await borrowed.post("/v1/patrol/location", json=here, headers={"X-Device-Id": "phone-Z"})
    assert (r.status_code, r.json()["error"]) == (403, "not_on_crew")
    commander = api(role="city_commander", jur="3701")
    [event] = await _events(commander, kind="off_roster")
    assert (event["officer_id"], event["unit_id"], event["device_id"]) == (
        "officer-of-nowhere",
        unit,
        "phone-Z",
    )
    assert await _events(commander, kind="two_devices") == []
    assert (await _events(commander, officer_id="officer-of-nowhere"))[0]["id"] == event["id"]
    # The crew's own officer is not a sign.
    own = api(role="patrol_officer", jur="3701", unit_id=unit, sub=org.member(unit))
    assert (await own.post("/v1/patrol/location", json=here)).status_code == 200
    assert len(await _events(commander)) == 1


async def test_the_list_is_scoped_paginated_and_for_supervisors_only(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    unit = await org.unit()
    here = {"lat": 36.65, "lon": 117.12, "at": clock.now().isoformat()}
    for n in range(3):
        stranger = api(role="patrol_officer", jur="3701", unit_id=unit, sub=f"stranger-{n}")
        assert (await stranger.post("/v1/patrol/location", json=here)).status_code == 403
        clock.advance(1)
    assert await _events(api(role="city_commander", jur="3702")) == []
    for role in ("dispatcher", "patrol_officer"):
        r = await api(role=role, jur="3701", unit_id=unit if role == "patrol_officer" else None).get(EVENTS)
        assert (r.status_code, r.json()["error"]) == (403, "role_forbidden")
    auditor = api(role="auditor", jur="3701")
    seen, cursor = [], None
    while True:
        r = await auditor.get(EVENTS, params={"limit": 2} | ({"cursor": cursor} if cursor else {}))
        seen += [e["officer_id"] for e in r.json()["items"]]
        if not (cursor := r.json()["next_cursor"]):
            break
    assert seen == ["stranger-2", "stranger-1", "stranger-0"]
    r = await auditor.get(EVENTS, params={"cursor": "nonsense"})
    assert (r.status_code, r.json()["error"]) == (422, "invalid_cursor")
