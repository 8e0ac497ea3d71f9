"""POST /v1/exchange/violations: every refusal, scope, replay across replicas, the pipeline."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from sec_support import PARTNERS, bearer, client_for, common_settings, jinan_event, qingdao_event
from sqlalchemy import text

from qzx_common.topics import VIOLATIONS_ACCEPTED
from qzx_common.web.exchange import sign_headers
from qzx_dev.testing import Stack

pytestmark = [pytest.mark.db, pytest.mark.kafka]

PATH = "/v1/exchange/violations"


def signed(
    key_id: str, body: bytes, *, path: str = PATH, method: str = "POST", **over: Any
) -> dict[str, str]:
    headers = sign_headers(
        key_id=key_id,
        secret=PARTNERS[key_id]["secret"] if key_id in PARTNERS else "x" * 16,
        method=method,
        path_with_query=path,
        body=body,
        timestamp=over.pop("timestamp", None),
        nonce=over.pop("nonce", None),
    )
    return headers | {"content-type": "application/json"} | over


def batch(*events: Any) -> bytes:
    return orjson.dumps({"events": list(events)})


async def _error(
    ingest: httpx.AsyncClient, body: bytes, headers: dict[str, str], path: str = PATH
) -> tuple[int, str]:
    r = await ingest.post(path, content=body, headers=headers)
    return r.status_code, r.json()["error"]


async def test_happy_batch_lands_in_the_pipeline_and_a_replay_is_refused(
    ingest: httpx.AsyncClient, stack: Stack
) -> None:
    events = [jinan_event(), qingdao_event()]
    body = batch(*events)
    headers = signed("ministry", body)
    consumer = AIOKafkaConsumer(
        stack.topic_prefix + VIOLATIONS_ACCEPTED,
        bootstrap_servers=stack.bootstrap,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        r = await ingest.post(PATH, content=body, headers=headers)
        assert r.status_code == 202, r.text
        assert r.json() == {"accepted": 2, "duplicates": 0, "rejected": []}

        wanted = {e["event_id"] for e in events}
        seen: set[str] = set()
        deadline = time.monotonic() + 20
        while wanted - seen and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen |= {orjson.loads(m.value)["event_id"] for m in records}
        assert wanted <= seen, "the accepted events were not forwarded to violations.accepted.v1"
    finally:
        await consumer.stop()

    assert await _error(ingest, body, headers) == (401, "replayed_nonce")
    # Re-sent with a fresh nonce, the same events are duplicates: stored once.
    r = await ingest.post(PATH, content=body, headers=signed("ministry", body))
    assert r.json() == {"accepted": 0, "duplicates": 2, "rejected": []}


async def test_replay_is_refused_by_another_replica(ingest: httpx.AsyncClient, stack: Stack) -> None:
    from qzx_ingest.main import create_app
    from qzx_ingest.settings import IngestSettings

    other = create_app(IngestSettings(**common_settings(stack)), consume=False)
    body = batch(jinan_event())
    headers = signed("ministry", body)
    async with other.router.lifespan_context(other), client_for(other) as replica:
        assert (await ingest.post(PATH, content=body, headers=headers)).status_code == 202
        assert await _error(replica, body, headers) == (401, "replayed_nonce")


async def test_every_signature_failure_has_its_own_code(ingest: httpx.AsyncClient) -> None:
    body = batch(jinan_event())
    good = signed("ministry", body)
    for header in ("X-Qzx-Key-Id", "X-Qzx-Timestamp", "X-Qzx-Nonce", "X-Qzx-Signature"):
        headers = {k: v for k, v in good.items() if k != header}
        assert await _error(ingest, body, headers) == (401, "missing_signature_header")
    assert await _error(ingest, body, signed("stranger", body)) == (401, "unknown_key")
    assert await _error(ingest, body, signed("ministry", body, timestamp=int(time.time()) - 301)) == (
        401,
        "stale_timestamp",
    )
    assert await _error(ingest, body, signed("ministry", body, timestamp=int(time.time()) + 301)) == (
        401,
        "stale_timestamp",
    )
    assert await _error(ingest, body, good | {"X-Qzx-Timestamp": "soon"}) == (
        401,
        "malformed_signature_header",
    )
    assert await _error(ingest, body, signed("ministry", body, nonce="short")) == (
        401,
        "malformed_signature_header",
    )
    # Signed with the other partner's secret, a tampered body, another path or query, another method.
    wrong_key = signed("qingdao", body) | {"X-Qzx-Key-Id": "ministry"}
    assert await _error(ingest, body, wrong_key) == (401, "bad_signature")
    assert await _error(ingest, batch(jinan_event()), signed("ministry", body)) == (401, "bad_signature")
    assert await _error(ingest, body, signed("ministry", body, path=PATH + "?x=1")) == (401, "bad_signature")
    assert await _error(ingest, body, signed("ministry", body), path=PATH + "?x=1") == (401, "bad_signature")
    assert await _error(ingest, body, signed("ministry", body, method="PUT")) == (401, "bad_signature")
    assert await _error(ingest, body, good | {"X-Qzx-Signature": good["X-Qzx-Signature"].upper()}) == (
        401,
        "bad_signature",
    )
    # A failed signature does not spend the nonce: the genuine request still goes through.
    assert (await ingest.post(PATH, content=body, headers=good)).status_code == 202


async def test_a_bearer_token_is_no_substitute_for_a_signature(ingest: httpx.AsyncClient) -> None:
    r = await ingest.post(PATH, content=batch(jinan_event()), headers=bearer("province_commander"))
    assert (r.status_code, r.json()["error"]) == (401, "missing_signature_header")


async def test_oversized_body_is_refused_before_it_is_read(ingest: httpx.AsyncClient) -> None:
    body = b'{"events": [' + b" " * (4 * 1024 * 1024) + b"]}"
    assert await _error(ingest, body, signed("ministry", body)) == (413, "payload_too_large")


async def test_batch_shape_errors(ingest: httpx.AsyncClient) -> None:
    too_many = batch(*([{}] * 1001))
    assert await _error(ingest, too_many, signed("ministry", too_many)) == (422, "too_many_events")
    for body in (b"[]", b'{"events": 5}', b"{not json"):
        assert await _error(ingest, body, signed("ministry", body)) == (422, "invalid_request")


async def test_items_outside_the_partners_prefix_are_refused_one_by_one(
    ingest: httpx.AsyncClient, ingest_app: Any
) -> None:
    jinan, qingdao = jinan_event(), qingdao_event()
    broken = qingdao_event(location={"lat": 36.07, "lon": 120.38})
    body = batch(jinan, qingdao, broken, qingdao)
    r = await ingest.post(PATH, content=body, headers=signed("qingdao", body))
    assert r.status_code == 202
    result = r.json()
    assert (result["accepted"], result["duplicates"]) == (1, 1)
    assert [e["index"] for e in result["rejected"]] == [0, 2]
    assert result["rejected"][0]["error"].startswith("out_of_scope: location.admin_code 370102")
    assert "location.admin_code" in result["rejected"][1]["error"]
    async with ingest_app.state.runtime.engine.connect() as conn:
        stored = await conn.execute(
            text("SELECT event_id, source FROM ingest.violations WHERE event_id = ANY(:ids)"),
            {"ids": [jinan["event_id"], qingdao["event_id"], broken["event_id"]]},
        )
        assert {tuple(r) for r in stored} == {(qingdao["event_id"], "exchange:qingdao")}


async def test_expired_nonces_are_purged(ingest: httpx.AsyncClient, ingest_app: Any) -> None:
    engine = ingest_app.state.runtime.engine
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO ingest.exchange_nonces (key_id, nonce, expires_at) "
                "VALUES ('ministry', 'old-nonce-0001', now() - interval '1 hour')"
            )
        )
    ingest_app.state.qzx_exchange.nonces._purged_at = float("-inf")  # due for its next purge
    body = batch(jinan_event())
    assert (await ingest.post(PATH, content=body, headers=signed("ministry", body))).status_code == 202
    async with engine.connect() as conn:
        left = await conn.scalar(
            text("SELECT count(*) FROM ingest.exchange_nonces WHERE nonce = 'old-nonce-0001'")
        )
    assert left == 0


async def test_nul_characters_are_refused_per_item_not_with_a_server_error(ingest: httpx.AsyncClient) -> None:
    road = jinan_event(location={"lat": 36.651, "lon": 117.12, "admin_code": "370102", "road": "G\x002"})
    body = batch(road, jinan_event(event_id="abc\x00def"), jinan_event())
    r = await ingest.post(PATH, content=body, headers=signed("ministry", body))
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 1
    assert [(e["index"], "NUL" in e["error"]) for e in r.json()["rejected"]] == [(0, True), (1, True)]
