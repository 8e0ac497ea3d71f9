"""Jurisdiction isolation and the audit log on ingest (alerts and dispatch:
test_jurisdiction_alerts.py, test_jurisdiction_dispatch.py, test_audit_completeness.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from sec_support import PARTNERS, bearer, jinan_event, qingdao_event
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from qzx_common.web.exchange import sign_headers

pytestmark = [pytest.mark.db]


async def _send(ingest: httpx.AsyncClient, key_id: str, events: list[Any]) -> httpx.Response:
    body = orjson.dumps({"events": events})
    headers = sign_headers(
        key_id=key_id,
        secret=PARTNERS[key_id]["secret"],
        method="POST",
        path_with_query="/v1/exchange/violations",
        body=body,
    )
    return await ingest.post(
        "/v1/exchange/violations", content=body, headers=headers | {"x-request-id": "req-42"}
    )


@pytest.fixture(scope="module")
async def two_cities(ingest: httpx.AsyncClient) -> dict[str, Any]:
    jinan, qingdao = jinan_event(), qingdao_event()
    r = await _send(ingest, "ministry", [jinan, qingdao])
    assert r.json()["accepted"] == 2
    return {"jinan": jinan, "qingdao": qingdao}


async def test_a_city_token_sees_only_its_city(ingest: httpx.AsyncClient, two_cities: dict[str, Any]) -> None:
    jinan, qingdao = two_cities["jinan"]["event_id"], two_cities["qingdao"]["event_id"]
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()

    async def listed(headers: dict[str, str], **params: str) -> set[str]:
        r = await ingest.get(
            "/v1/violations", params={"since": since, "limit": 500, **params}, headers=headers
        )
        assert r.status_code == 200
        return {i["event_id"] for i in r.json()["items"]}

    qd = bearer("dispatcher", "3702")
    assert qingdao in await listed(qd) and jinan not in await listed(qd)
    assert jinan not in await listed(qd, admin_code="3701")  # a filter cannot widen the scope
    assert {jinan, qingdao} <= await listed(bearer("province_commander"))
    assert (await ingest.get(f"/v1/violations/{qingdao}", headers=qd)).status_code == 200
    r = await ingest.get(f"/v1/violations/{jinan}", headers=qd)
    assert r.status_code == 404  # looks absent: no existence oracle across cities
    r = await ingest.get("/v1/dlq", headers=qd)
    assert (r.status_code, r.json()["error"]) == (403, "province_scope_required")
    assert (await ingest.get("/v1/dlq", headers=bearer("province_commander"))).status_code == 200


async def test_each_exchange_batch_leaves_exactly_one_audit_record(
    ingest: httpx.AsyncClient, ingest_app: Any
) -> None:
    r = await _send(ingest, "qingdao", [qingdao_event(), jinan_event(), {"nonsense": True}])
    assert r.status_code == 202
    nonce = r.request.headers["X-Qzx-Nonce"]
    async with ingest_app.state.runtime.engine.connect() as conn:
        rows = (
            (
                await conn.execute(
                    text("SELECT * FROM ingest.audit_log WHERE target_id = :t"), {"t": f"qingdao:{nonce}"}
                )
            )
            .mappings()
            .all()
        )
    assert len(rows) == 1
    row = rows[0]
    assert (row["actor"], row["action"], row["target_type"], row["admin_code"]) == (
        "exchange:qingdao",
        "exchange.violations.receive",
        "exchange_batch",
        "3702",
    )
    assert row["after"] == {"events": 3, "accepted": 1, "duplicates": 0, "rejected": 2}
    assert row["request_id"] == "req-42" and row["client_addr"] == "127.0.0.1"

    # A refused batch (bad signature) changes nothing and records nothing.
    body = orjson.dumps({"events": [qingdao_event()]})
    bad = sign_headers(
        key_id="qingdao", secret="x" * 20, method="POST", path_with_query="/v1/exchange/violations", body=body
    )
    assert (await ingest.post("/v1/exchange/violations", content=body, headers=bad)).status_code == 401
    async with ingest_app.state.runtime.engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM ingest.audit_log WHERE target_id = :t"),
            {"t": f"qingdao:{bad['X-Qzx-Nonce']}"},
        )
    assert count == 0


async def test_the_audit_log_cannot_be_altered(ingest_app: Any, two_cities: dict[str, Any]) -> None:
    for statement in (
        "UPDATE ingest.audit_log SET actor = 'someone-else'",
        "DELETE FROM ingest.audit_log",
        "TRUNCATE ingest.audit_log",
    ):
        with pytest.raises(DBAPIError, match=r"append-only|permission denied"):
            async with ingest_app.state.runtime.engine.begin() as conn:
                await conn.execute(text(statement))


async def test_auditors_query_by_person_target_and_time(
    ingest: httpx.AsyncClient, two_cities: dict[str, Any]
) -> None:
    for _ in range(2):
        assert (await _send(ingest, "ministry", [jinan_event()])).status_code == 202
    auditor = bearer("auditor")
    r = await ingest.get("/v1/audit", params={"actor": "exchange:ministry", "limit": 1}, headers=auditor)
    assert r.status_code == 200
    page = r.json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    assert page["items"][0]["actor"] == "exchange:ministry"
    walked, cursor = [], None
    while True:
        params = {"actor": "exchange:ministry", "limit": 2} | ({"cursor": cursor} if cursor else {})
        body = (await ingest.get("/v1/audit", params=params, headers=auditor)).json()
        walked += [e["id"] for e in body["items"]]
        if not (cursor := body["next_cursor"]):
            break
    assert walked == sorted(walked, reverse=True) and len(walked) == len(set(walked)) >= 3

    target = page["items"][0]["target_id"]
    r = await ingest.get(
        "/v1/audit", params={"target_type": "exchange_batch", "target_id": target}, headers=auditor
    )
    assert [e["target_id"] for e in r.json()["items"]] == [target]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await ingest.get("/v1/audit", params={"since": future}, headers=auditor)).json()["items"] == []
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert (await ingest.get("/v1/audit", params={"until": past}, headers=auditor)).json()["items"] == []

    # A Qingdao auditor sees what happened in Qingdao (the qingdao partner's batches), not the rest.
    city = (await ingest.get("/v1/audit", params={"limit": 500}, headers=bearer("auditor", "3702"))).json()[
        "items"
    ]
    assert city and all(e["admin_code"].startswith("3702") for e in city)  # the city or its districts
    r = await ingest.get("/v1/audit", headers=bearer("dispatcher"))
    assert (r.status_code, r.json()["error"]) == (403, "role_forbidden")
