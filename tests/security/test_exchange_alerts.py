"""Alerts' exchange: hotlists in (merged idempotently, scoped), the feed and daily stats out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from sec_support import PARTNERS, bearer, client_for, tag
from sqlalchemy import text

from qzx_common.web.exchange import ExchangeAuth

pytestmark = [pytest.mark.db]


@pytest.fixture(scope="module")
async def alerts(alerts_app: Any) -> Any:
    async with client_for(alerts_app) as c:
        yield c


def signer(key_id: str) -> ExchangeAuth:
    return ExchangeAuth(key_id, PARTNERS[key_id]["secret"])


def plate(n: int) -> str:
    return f"鲁B{n:05d}"


async def test_hotlists_merge_idempotently_within_scope(alerts: httpx.AsyncClient, alerts_app: Any) -> None:
    expires = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    since = datetime.now(UTC)  # other tests' batches of this partner came before
    entries = [
        {"plate": plate(101), "priority": "P1", "reason": "stolen vehicle", "expires_at": expires},
        {"plate": plate(102), "reason": "unpaid fines", "admin_code": "370202"},
        {"plate": plate(103), "reason": "Jinan case", "admin_code": "370102"},  # outside Qingdao
        {"plate": "not a plate", "reason": "x" * 5},
        {"plate": plate(104), "reason": "chosen source", "source": "console"},
        {"plate": plate(105), "reason": "nul\x00inside"},
    ]
    r = await alerts.post("/v1/exchange/hotlists", json={"entries": entries}, auth=signer("qingdao"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (2, 0, 0)
    assert [e["index"] for e in body["rejected"]] == [2, 3, 4, 5]
    assert body["rejected"][0]["error"].startswith("out_of_scope: admin_code 370102")
    assert body["rejected"][1]["error"].startswith("plate:")

    again = await alerts.post("/v1/exchange/hotlists", json={"entries": entries[:2]}, auth=signer("qingdao"))
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 2, "rejected": []}
    entries[0]["priority"] = "P2"
    changed = await alerts.post(
        "/v1/exchange/hotlists", json={"entries": entries[:1]}, auth=signer("qingdao")
    )
    assert (changed.json()["updated"], changed.json()["created"]) == (1, 0)

    listed = await alerts.get(
        "/v1/hotlists", params={"plate": plate(101)}, headers=bearer("city_commander", "3702")
    )
    items = listed.json()["items"]
    assert [(i["plate"], i["priority"], i["admin_code"], i["source"]) for i in items] == [
        (plate(101), "P2", "370200", "exchange:qingdao")
    ]
    async with alerts_app.state.runtime.engine.connect() as conn:
        audits = await conn.scalar(
            text(
                "SELECT count(*) FROM alerts.audit_log WHERE actor = 'exchange:qingdao' "
                "AND action = 'exchange.hotlists.receive' AND at >= :since"
            ),
            {"since": since},
        )
    assert audits == 3  # one per accepted batch


async def test_hotlist_refusals(alerts: httpx.AsyncClient) -> None:
    body = orjson.dumps({"entries": [{"plate": plate(201), "reason": "replay me"}]})
    request = alerts.build_request("POST", "/v1/exchange/hotlists", content=body)
    signed = next(signer("ministry").auth_flow(request))
    assert (await alerts.send(signed)).status_code == 200
    replay = await alerts.send(signed)
    assert (replay.status_code, replay.json()["error"]) == (401, "replayed_nonce")
    r = await alerts.post("/v1/exchange/hotlists", content=body, headers=bearer("province_commander"))
    assert (r.status_code, r.json()["error"]) == (401, "missing_signature_header")
    huge = b'{"entries": [' + b" " * (4 * 1024 * 1024) + b"]}"
    r = await alerts.post("/v1/exchange/hotlists", content=huge, auth=signer("ministry"))
    assert (r.status_code, r.json()["error"]) == (413, "payload_too_large")
    r = await alerts.post("/v1/exchange/hotlists", json={"entries": [{}] * 5001}, auth=signer("ministry"))
    assert (r.status_code, r.json()["error"]) == (422, "too_many_entries")


async def _change(conn: Any, alert_id: str, admin_code: str, status: str) -> None:
    payload = {"id": alert_id, "status": status, "admin_code": admin_code, "priority": "P2"}
    await conn.execute(
        text("INSERT INTO alerts.alert_changes (alert_id, admin_code, payload) VALUES (:a, :c, :p)"),
        {"a": alert_id, "c": admin_code, "p": orjson.dumps(payload)},
    )


async def test_feed_pages_through_changes_within_the_partners_prefix(
    alerts: httpx.AsyncClient, alerts_app: Any
) -> None:
    t = tag()

    async def end_of_feed(partner: str) -> str:
        """A cursor past everything earlier tests left."""
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 1000} | ({"cursor": cursor} if cursor else {})
            page = (await alerts.get("/v1/exchange/feed", params=params, auth=signer(partner))).json()
            cursor = page["next_cursor"]
            if not page["items"]:
                return cursor

    cursor, province_cursor = await end_of_feed("qingdao"), await end_of_feed("ministry")
    async with alerts_app.state.runtime.engine.begin() as conn:
        await _change(conn, f"{t}-q1", "370202", "new")
        await _change(conn, f"{t}-j1", "370102", "new")
        await _change(conn, f"{t}-q1", "370202", "resolved")
        await _change(conn, f"{t}-q2", "370211", "dismissed")

    seen, pages = [], 0
    while True:  # pages of two (consumers may append changes of their own meanwhile)
        page = (
            await alerts.get(
                "/v1/exchange/feed", params={"cursor": cursor, "limit": 2}, auth=signer("qingdao")
            )
        ).json()
        if not page["items"]:
            break
        pages += 1
        assert len(page["items"]) <= 2 and all(i["admin_code"].startswith("3702") for i in page["items"])
        seen += [(i["id"], i["status"]) for i in page["items"] if i["id"].startswith(t)]
        cursor = page["next_cursor"]
    assert seen == [(f"{t}-q1", "new"), (f"{t}-q1", "resolved"), (f"{t}-q2", "dismissed")] and pages >= 2
    province = (
        await alerts.get(
            "/v1/exchange/feed", params={"cursor": province_cursor, "limit": 1000}, auth=signer("ministry")
        )
    ).json()
    assert f"{t}-j1" in {i["id"] for i in province["items"]}
    r = await alerts.get("/v1/exchange/feed", params={"cursor": "garbage!"}, auth=signer("qingdao"))
    assert (r.status_code, r.json()["error"]) == (422, "invalid_cursor")
    r = await alerts.get("/v1/exchange/feed")
    assert (r.status_code, r.json()["error"]) == (401, "missing_signature_header")


async def test_daily_stats_per_city(alerts: httpx.AsyncClient, alerts_app: Any) -> None:
    day = datetime(2026, 3, 14, 10, tzinfo=UTC)  # 18:00 in China
    t = tag()
    async with alerts_app.state.runtime.engine.begin() as conn:
        for i, (code, violation) in enumerate(
            [("370202", "overload"), ("370202", "overload"), ("370211", "speeding"), ("370102", "speeding")]
        ):
            await conn.execute(
                text(
                    "INSERT INTO alerts.sightings (event_id, violation, device_id, lat, lon, admin_code, captured_at) "
                    "VALUES (:e, :v, 'd', 36, 120, :c, :at)"
                ),
                {"e": f"{t}-{i}", "v": violation, "c": code, "at": day},
            )
        # Late on the evening before in UTC is already the next day in China: counted on the 14th.
        await conn.execute(
            text(
                "INSERT INTO alerts.sightings (event_id, violation, device_id, lat, lon, admin_code, captured_at) "
                "VALUES (:e, 'red_light', 'd', 36, 120, '370202', :at)"
            ),
            {"e": f"{t}-edge", "at": datetime(2026, 3, 13, 17, tzinfo=UTC)},
        )
        for i, (code, priority, status) in enumerate(
            [("370202", "P1", "resolved"), ("370203", "P2", "dismissed")]
        ):
            await conn.execute(
                text(
                    "INSERT INTO alerts.alerts (id, kind, dedup_key, status, priority, score, factors, violations, "
                    "plates, admin_code, city_code, lat, lon, first_seen, last_seen, count, event_ids, rules_version, "
                    "dispatched_at) VALUES (:id, 'violation', :id, :s, :p, 50, '[]', '{overload}', '{}', :c, "
                    ":city, 36, 120, :at, :at, 1, '{}', 'test', :d)"
                ),
                {
                    "id": f"{t}-a{i}",
                    "s": status,
                    "p": priority,
                    "c": code,
                    "city": code[:4],
                    "at": day,
                    "d": day if i == 0 else None,
                },
            )
    r = await alerts.get("/v1/exchange/stats/daily", params={"date": "2026-03-14"}, auth=signer("qingdao"))
    assert r.status_code == 200, r.text
    stats = r.json()
    assert stats["date"] == "2026-03-14"
    assert [c["city_code"] for c in stats["cities"]] == ["370200"]
    qd = stats["cities"][0]
    assert qd["violations_by_type"] == {"overload": 2, "red_light": 1, "speeding": 1}
    assert (qd["violations"], qd["alerts"], qd["dispatched"], qd["resolved"], qd["dismissed"]) == (
        4,
        2,
        1,
        1,
        1,
    )
    assert qd["alerts_by_priority"] == {"P1": 1, "P2": 1}
    province = (
        await alerts.get("/v1/exchange/stats/daily", params={"date": "2026-03-14"}, auth=signer("ministry"))
    ).json()
    assert len(province["cities"]) == 16
    jinan = next(c for c in province["cities"] if c["city_code"] == "370100")
    assert jinan["violations_by_type"] == {"speeding": 1}


async def _audit_count(app: Any, target_id: str) -> int:
    async with app.state.runtime.engine.connect() as conn:
        return int(
            await conn.scalar(
                text("SELECT count(*) FROM alerts.audit_log WHERE target_id = :t"), {"t": target_id}
            )
        )


async def test_hotlist_mutations_are_scoped_and_audited_once(
    alerts: httpx.AsyncClient, alerts_app: Any
) -> None:
    qingdao, jinan = bearer("city_commander", "3702"), bearer("city_commander", "3701")
    entry = {"plate": plate(301), "reason": "wanted in Qingdao", "admin_code": "370202"}
    r = await alerts.post("/v1/hotlists", json=entry, headers=qingdao)
    assert r.status_code == 201, r.text
    entry_id = r.json()["id"]
    assert await _audit_count(alerts_app, entry_id) == 1
    # Jinan can neither write into Qingdao nor see or delete Qingdao's entry.
    r = await alerts.post("/v1/hotlists", json=entry, headers=jinan)
    assert (r.status_code, r.json()["error"]) == (403, "out_of_jurisdiction")
    listed = (await alerts.get("/v1/hotlists", params={"plate": plate(301)}, headers=jinan)).json()["items"]
    assert listed == []
    assert (await alerts.delete(f"/v1/hotlists/{entry_id}", headers=jinan)).status_code == 404
    assert await _audit_count(alerts_app, entry_id) == 1  # refusals leave no record
    assert (await alerts.delete(f"/v1/hotlists/{entry_id}", headers=qingdao)).status_code == 204
    assert await _audit_count(alerts_app, entry_id) == 2
    r = await alerts.get(
        "/v1/audit",
        params={"target_type": "hotlist", "target_id": entry_id},
        headers=bearer("auditor", "3702"),
    )
    assert [e["action"] for e in r.json()["items"]] == ["hotlist.delete", "hotlist.create"]


COVERT_FACTORS = [{"name": "hotlist", "value": "covert", "contribution": 0, "why": "covert"}]
OPEN_FACTORS = [{"name": "hotlist", "value": "hl-1", "contribution": 0, "why": "wanted"}]


async def test_covert_hits_never_reach_a_partner(alerts: httpx.AsyncClient, alerts_app: Any) -> None:
    """A covert checkpoint hit is for commanders only: neither the feed nor the stats carry it."""
    t = tag()
    day = datetime(2026, 4, 2, 4, tzinfo=UTC)
    cursor = None
    while True:  # a cursor past everything earlier tests left
        params: dict[str, Any] = {"limit": 1000} | ({"cursor": cursor} if cursor else {})
        page = (await alerts.get("/v1/exchange/feed", params=params, auth=signer("qingdao"))).json()
        cursor = page["next_cursor"]
        if not page["items"]:
            break
    async with alerts_app.state.runtime.engine.begin() as conn:
        for name, factors in (("covert", COVERT_FACTORS), ("open", OPEN_FACTORS)):
            payload = {"id": f"{t}-{name}", "kind": "hotlist_hit", "admin_code": "370202", "factors": factors}
            await conn.execute(
                text(
                    "INSERT INTO alerts.alert_changes (alert_id, admin_code, payload) VALUES (:a, '370202', :p)"
                ),
                {"a": f"{t}-{name}", "p": orjson.dumps(payload)},
            )
            await conn.execute(
                text(
                    "INSERT INTO alerts.alerts (id, kind, dedup_key, status, priority, score, factors, violations, "
                    "plates, admin_code, city_code, lat, lon, first_seen, last_seen, count, event_ids, rules_version) "
                    "VALUES (:id, 'hotlist_hit', :id, 'new', 'P2', 50, CAST(:f AS jsonb), '{}', '{}', '370202', "
                    "'3702', 36, 120, :at, :at, 1, '{}', 'test')"
                ),
                {"id": f"{t}-{name}", "f": orjson.dumps(factors).decode(), "at": day},
            )
    page = (
        await alerts.get(
            "/v1/exchange/feed", params={"cursor": cursor, "limit": 1000}, auth=signer("qingdao")
        )
    ).json()
    ids = {i["id"] for i in page["items"]}
    assert f"{t}-open" in ids and f"{t}-covert" not in ids
    r = await alerts.get("/v1/exchange/stats/daily", params={"date": "2026-04-02"}, auth=signer("qingdao"))
    (qd,) = r.json()["cities"]
    assert (qd["alerts"], qd["alerts_by_priority"]) == (1, {"P2": 1})
