"""Jurisdiction isolation on alerts: a Qingdao (3702) dispatcher neither sees nor touches a Jinan
(3701) alert, hazard or hotlist entry, in lists, details, the SSE stream and every mutation; a
province commander sees and acts on all. Refusals change nothing and leave no audit record."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from sec_support import bearer, client_for, token
from sec_world import JINAN_SPOT, QINGDAO_SPOT, audit_rows, new_alerts, new_plate, request_id

pytestmark = [pytest.mark.db]

QD = bearer("dispatcher", "3702")
JN = bearer("dispatcher", "3701")
PROVINCE = bearer("province_commander")
QD_BOSS = bearer("city_commander", "3702")
JN_BOSS = bearer("city_commander", "3701")


@pytest.fixture(scope="module")
async def alerts(alerts_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(alerts_app, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
async def two_cities(alerts_app: Any) -> dict[str, dict[str, Any]]:
    jinan, qingdao = await new_alerts(alerts_app, JINAN_SPOT, QINGDAO_SPOT)
    assert jinan["admin_code"] == "370102" and qingdao["admin_code"] == "370202"
    return {"jinan": jinan, "qingdao": qingdao}


async def _walk(client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any) -> list[Any]:
    """Every item of a keyset-paginated list."""
    items: list[Any] = []
    cursor = None
    while True:
        page_params = {"limit": 500, **params} | ({"cursor": cursor} if cursor else {})
        r = await client.get(path, params=page_params, headers=headers)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        if not (cursor := r.json()["next_cursor"]):
            return items


async def test_alert_lists_show_only_the_callers_city(
    alerts: httpx.AsyncClient, two_cities: dict[str, Any]
) -> None:
    jinan, qingdao = two_cities["jinan"], two_cities["qingdao"]
    seen = await _walk(alerts, "/v1/alerts", QD)
    assert qingdao["id"] in {a["id"] for a in seen}
    assert {a["admin_code"][:4] for a in seen} == {"3702"}
    # No filter widens the scope: another city's code is refused, a wider prefix is narrowed.
    r = await alerts.get("/v1/alerts", params={"admin_code": "3701"}, headers=QD)
    assert (r.status_code, r.json()["error"]) == (403, "out_of_jurisdiction")
    wide = await _walk(alerts, "/v1/alerts", QD, admin_code="37")
    assert {a["admin_code"][:4] for a in wide} == {"3702"}
    r = await alerts.get("/v1/alerts", params={"plate": jinan["plate"]}, headers=QD)
    assert r.json()["items"] == []
    for other in ("status", "priority", "violation"):
        value = {"status": "new", "priority": jinan["priority"], "violation": "drunk_driving"}[other]
        items = (await alerts.get("/v1/alerts", params={other: value, "limit": 500}, headers=QD)).json()[
            "items"
        ]
        assert jinan["id"] not in {a["id"] for a in items}
    # Jinan sees its own and not Qingdao's; the province sees both.
    assert [
        a["id"]
        for a in (await alerts.get("/v1/alerts", params={"plate": jinan["plate"]}, headers=JN)).json()[
            "items"
        ]
    ] == [jinan["id"]]
    assert (await alerts.get("/v1/alerts", params={"plate": qingdao["plate"]}, headers=JN)).json()[
        "items"
    ] == []
    for alert in (jinan, qingdao):
        r = await alerts.get("/v1/alerts", params={"plate": alert["plate"]}, headers=PROVINCE)
        assert [a["id"] for a in r.json()["items"]] == [alert["id"]]


async def test_an_alert_of_another_city_looks_absent(
    alerts: httpx.AsyncClient, two_cities: dict[str, Any]
) -> None:
    jinan, qingdao = two_cities["jinan"], two_cities["qingdao"]
    for headers in (QD, QD_BOSS, bearer("auditor", "3702"), bearer("dispatcher", "370202")):
        r = await alerts.get(f"/v1/alerts/{jinan['id']}", headers=headers)
        assert (r.status_code, r.json()["error"]) == (404, "alert_not_found")
        assert (await alerts.get(f"/v1/alerts/{qingdao['id']}", headers=headers)).status_code == 200
    # The detail of an absent alert and of another city's alert cannot be told apart.
    absent = await alerts.get("/v1/alerts/no-such-alert", headers=QD)
    assert absent.json()["error"] == "alert_not_found" and absent.status_code == 404
    for headers in (JN, PROVINCE, bearer("auditor")):
        r = await alerts.get(f"/v1/alerts/{jinan['id']}", headers=headers)
        assert r.status_code == 200 and r.json()["id"] == jinan["id"]
        assert r.json()["events"] and {e["admin_code"] for e in r.json()["events"]} == {"370102"}


async def _read_stream(
    base_url: str, role: str, jur: str, *, after: int, until_id: str, timeout: float = 15.0
) -> list[dict[str, Any]]:
    """`alert` events from ``after`` on, until one for ``until_id`` arrives."""
    headers = {"Authorization": f"Bearer {token(role, jur)}", "Last-Event-ID": str(after)}
    events: list[dict[str, Any]] = []
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=timeout) as c,
        c.stream("GET", "/v1/alerts/stream", headers=headers) as r,
    ):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        async with asyncio.timeout(timeout):
            async for line in r.aiter_lines():
                if line:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
                    continue
                if fields.get("event") == "alert":
                    events.append(orjson.loads(fields["data"]))
                    if events[-1]["id"] == until_id:
                        return events
                fields = {}
    raise AssertionError("the stream ended")


async def test_the_stream_carries_only_the_callers_city(alerts_app: Any, alerts_http: str) -> None:
    from qzx_alerts.alerts.stream import start_position

    after = await start_position(alerts_app.state.runtime.engine, None)
    # In change-log order: a Jinan alert, its dismissal by Jinan, then a Qingdao alert. Each stream
    # is read until the Qingdao alert: whatever it was going to show of Jinan came before.
    [jinan] = await new_alerts(alerts_app, JINAN_SPOT)
    async with client_for(alerts_app) as c:
        r = await c.post(f"/v1/alerts/{jinan['id']}/dismiss", json={"reason": "test"}, headers=JN)
    assert r.status_code == 200, r.text
    [qingdao] = await new_alerts(alerts_app, QINGDAO_SPOT)

    qd, city_boss, province = await asyncio.gather(
        _read_stream(alerts_http, "dispatcher", "3702", after=after, until_id=qingdao["id"]),
        _read_stream(alerts_http, "city_commander", "3702", after=after, until_id=qingdao["id"]),
        _read_stream(alerts_http, "province_commander", "37", after=after, until_id=qingdao["id"]),
    )
    for events in (qd, city_boss):
        assert {e["admin_code"][:4] for e in events} == {"3702"}
        assert jinan["id"] not in {e["id"] for e in events}
    # The province sees the Jinan alert, in its latest state at least (a page of the stream sends
    # an alert changed twice within it once: alerts.stream.coalesced).
    assert [e["status"] for e in province if e["id"] == jinan["id"]] in (["dismissed"], ["new", "dismissed"])


async def test_the_stream_refuses_roles_without_alerts_read(alerts: httpx.AsyncClient) -> None:
    for role in ("patrol_officer", "auxiliary_officer"):
        r = await alerts.get("/v1/alerts/stream", headers=bearer(role))
        assert (r.status_code, r.json()["error"]) == (403, "role_forbidden")


async def _status(alerts: httpx.AsyncClient, alert_id: str) -> tuple[str, int]:
    body = (await alerts.get(f"/v1/alerts/{alert_id}", headers=PROVINCE)).json()
    return body["status"], body["version"]


async def test_dismissing_another_citys_alert_is_refused_and_leaves_no_trace(
    alerts: httpx.AsyncClient, alerts_app: Any
) -> None:
    jinan, qingdao = await new_alerts(alerts_app, JINAN_SPOT, QINGDAO_SPOT)
    before = await _status(alerts, jinan["id"])
    for headers in (QD, QD_BOSS, bearer("dispatcher", "370202")):
        rid = request_id()
        r = await alerts.post(
            f"/v1/alerts/{jinan['id']}/dismiss",
            json={"reason": "not ours"},
            headers=headers | {"X-Request-Id": rid},
        )
        assert (r.status_code, r.json()["error"]) == (404, "alert_not_found")
        assert await audit_rows(alerts_app, "alerts", rid) == []
    assert await _status(alerts, jinan["id"]) == before
    # Its own city's alert the Qingdao dispatcher may dismiss; the province commander any city's.
    r = await alerts.post(f"/v1/alerts/{qingdao['id']}/dismiss", json={"reason": "false alarm"}, headers=QD)
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    r = await alerts.post(f"/v1/alerts/{jinan['id']}/dismiss", json={"reason": "duplicate"}, headers=PROVINCE)
    assert r.status_code == 200 and r.json()["status"] == "dismissed"


# -- hazards -------------------------------------------------------------------------------------


def _hazard(admin_code: str, name: str) -> dict[str, Any]:
    spot = JINAN_SPOT if admin_code.startswith("3701") else QINGDAO_SPOT
    return {
        "name": name,
        "lat": spot["lat"],
        "lon": spot["lon"],
        "risk_level": "high",
        "admin_code": admin_code,
    }


async def test_hazards_of_another_city_are_neither_seen_nor_touched(
    alerts: httpx.AsyncClient, alerts_app: Any
) -> None:
    r = await alerts.post("/v1/hazards", json=_hazard("370102", "Jinan junction"), headers=JN_BOSS)
    assert r.status_code == 201, r.text
    jinan = r.json()
    r = await alerts.post("/v1/hazards", json=_hazard("370202", "Qingdao junction"), headers=QD_BOSS)
    qingdao = r.json()

    seen = {h["id"] for h in await _walk(alerts, "/v1/hazards", QD)}
    assert qingdao["id"] in seen and jinan["id"] not in seen
    r = await alerts.get("/v1/hazards", params={"admin_code": "3701"}, headers=QD)
    assert (r.status_code, r.json()["error"]) == (403, "out_of_jurisdiction")
    assert (await alerts.get(f"/v1/hazards/{jinan['id']}", headers=QD)).status_code == 404
    province = {h["id"] for h in await _walk(alerts, "/v1/hazards", PROVINCE)}
    assert {jinan["id"], qingdao["id"]} <= province

    refusals = [
        ("POST", "/v1/hazards", _hazard("370102", "planted in Jinan"), 403, "out_of_jurisdiction"),
        ("PATCH", f"/v1/hazards/{jinan['id']}", {"risk_level": "low"}, 404, "hazard_not_found"),
        ("DELETE", f"/v1/hazards/{jinan['id']}", None, 404, "hazard_not_found"),
        # Its own hazard moved into another city: refused too.
        ("PATCH", f"/v1/hazards/{qingdao['id']}", {"admin_code": "370102"}, 403, "out_of_jurisdiction"),
    ]
    for method, path, body, status, error in refusals:
        rid = request_id()
        r = await alerts.request(method, path, json=body, headers=QD_BOSS | {"X-Request-Id": rid})
        assert (r.status_code, r.json()["error"]) == (status, error), (method, path)
        assert await audit_rows(alerts_app, "alerts", rid) == []
    assert (await alerts.get(f"/v1/hazards/{jinan['id']}", headers=PROVINCE)).json() == jinan
    assert (await alerts.get(f"/v1/hazards/{qingdao['id']}", headers=PROVINCE)).json() == qingdao

    r = await alerts.patch(f"/v1/hazards/{jinan['id']}", json={"status": "stock"}, headers=PROVINCE)
    assert r.status_code == 200 and r.json()["status"] == "stock"
    assert (await alerts.delete(f"/v1/hazards/{qingdao['id']}", headers=PROVINCE)).status_code == 204


# -- hotlists ------------------------------------------------------------------------------------


async def _hotlist(
    alerts: httpx.AsyncClient, headers: dict[str, str], plate: str, **params: Any
) -> list[Any]:
    r = await alerts.get("/v1/hotlists", params={"plate": plate, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_hotlist_entries_of_another_city_are_neither_seen_nor_touched(
    alerts: httpx.AsyncClient, alerts_app: Any
) -> None:
    plate = new_plate("A")
    r = await alerts.post(
        "/v1/hotlists",
        json={"plate": plate, "reason": "wanted in Jinan", "admin_code": "370102"},
        headers=JN_BOSS,
    )
    assert r.status_code == 201, r.text
    entry = r.json()
    assert await _hotlist(alerts, QD, plate) == []
    assert await _hotlist(alerts, QD_BOSS, plate, active="false") == []
    assert [e["id"] for e in await _hotlist(alerts, PROVINCE, plate)] == [entry["id"]]

    refusals = [
        # Re-posting the entry (same source and plate) from Qingdao would overwrite Jinan's.
        ("POST", "/v1/hotlists", {"plate": plate, "reason": "ours now", "admin_code": "370102"}, 403),
        ("DELETE", f"/v1/hotlists/{entry['id']}", None, 404),
    ]
    for method, path, body, status in refusals:
        rid = request_id()
        r = await alerts.request(method, path, json=body, headers=QD_BOSS | {"X-Request-Id": rid})
        assert r.status_code == status, (method, body, r.text)
        assert await audit_rows(alerts_app, "alerts", rid) == []
    # Qingdao listing the same plate for itself makes an entry of its own, leaving Jinan's alone.
    r = await alerts.post("/v1/hotlists", json={"plate": plate, "reason": "ours too"}, headers=QD_BOSS)
    assert r.status_code == 201 and r.json()["id"] != entry["id"] and r.json()["admin_code"] == "370200"
    after = {e["id"]: e for e in await _hotlist(alerts, PROVINCE, plate)}[entry["id"]]
    assert (after["reason"], after["priority"], after["admin_code"], after["updated_at"]) == (
        "wanted in Jinan",
        entry["priority"],
        "370102",
        entry["updated_at"],
    )
    for e in await _hotlist(alerts, PROVINCE, plate):
        assert (await alerts.delete(f"/v1/hotlists/{e['id']}", headers=PROVINCE)).status_code == 204


async def test_province_entries_apply_to_a_city_but_are_managed_by_the_province(
    alerts: httpx.AsyncClient,
) -> None:
    plate = new_plate("A")
    r = await alerts.post("/v1/hotlists", json={"plate": plate, "reason": "province case"}, headers=PROVINCE)
    assert r.status_code == 201 and r.json()["admin_code"] == "370000"
    entry = r.json()
    for headers in (QD, JN):
        assert [e["id"] for e in await _hotlist(alerts, headers, plate)] == [entry["id"]]
    r = await alerts.delete(f"/v1/hotlists/{entry['id']}", headers=QD_BOSS)
    assert (r.status_code, r.json()["error"]) == (403, "out_of_jurisdiction")
    assert [e["id"] for e in await _hotlist(alerts, QD, plate)] == [entry["id"]]


async def test_two_cities_may_each_hotlist_the_same_plate(alerts: httpx.AsyncClient) -> None:
    plate = new_plate("A")
    r = await alerts.post(
        "/v1/hotlists",
        json={"plate": plate, "reason": "wanted in Jinan", "admin_code": "370102"},
        headers=JN_BOSS,
    )
    assert r.status_code == 201, r.text
    r = await alerts.post(
        "/v1/hotlists",
        json={"plate": plate, "reason": "wanted in Qingdao", "admin_code": "370202"},
        headers=QD_BOSS,
    )
    assert r.status_code == 201, r.text
    assert [e["reason"] for e in await _hotlist(alerts, QD, plate)] == ["wanted in Qingdao"]
    assert [e["reason"] for e in await _hotlist(alerts, JN, plate)] == ["wanted in Jinan"]


# -- reports and the audit log -------------------------------------------------------------------


async def test_reports_are_scoped_to_the_callers_city(alerts: httpx.AsyncClient) -> None:
    for period in ("daily", "weekly"):
        r = await alerts.get(f"/v1/reports/{period}", params={"admin_code": "3701"}, headers=QD)
        assert (r.status_code, r.json()["error"]) == (403, "out_of_jurisdiction")
        r = await alerts.get(f"/v1/reports/{period}", params={"admin_code": "37"}, headers=QD)
        assert r.status_code == 200, r.text
        assert r.json() == (await alerts.get(f"/v1/reports/{period}", headers=QD)).json()


async def test_a_city_auditor_sees_the_changes_made_in_that_city_only(
    alerts: httpx.AsyncClient, alerts_app: Any
) -> None:
    since = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    jinan, qingdao = await new_alerts(alerts_app, JINAN_SPOT, QINGDAO_SPOT)
    for alert in (jinan, qingdao):  # both by the province commander: the target's city decides
        r = await alerts.post(f"/v1/alerts/{alert['id']}/dismiss", json={"reason": "audit"}, headers=PROVINCE)
        assert r.status_code == 200

    async def targets(jur: str) -> set[str]:
        entries = await _walk(
            alerts, "/v1/audit", bearer("auditor", jur), since=since, action="alert.dismiss"
        )
        return {e["target_id"] for e in entries}

    assert qingdao["id"] in await targets("3702") and jinan["id"] not in await targets("3702")
    assert jinan["id"] in await targets("3701") and qingdao["id"] not in await targets("3701")
    assert {jinan["id"], qingdao["id"]} <= await targets("37")


async def test_the_stream_route_documents_text_event_stream(alerts_app: Any) -> None:
    ok = alerts_app.openapi()["paths"]["/v1/alerts/stream"]["get"]["responses"]["200"]
    assert list(ok.get("content", {})) == ["text/event-stream"]
