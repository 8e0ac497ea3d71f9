"""Camera topic → ingest → Postgres / DLQ / accepted topic, over the real broker and database."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from qzx_common.topics import CAMERA_VIOLATIONS, CAMERA_VIOLATIONS_DLQ, VIOLATIONS_ACCEPTED
from qzx_dev.samples import make_event
from qzx_dev.testing import Stack, eventually

pytestmark = [pytest.mark.db, pytest.mark.kafka]


async def drain(stack: Stack, topic: str, *, want: int, match: Any, timeout: float = 15.0) -> list[Any]:
    """Read ``topic`` from the start until ``want`` records satisfy ``match``."""
    consumer = AIOKafkaConsumer(
        stack.topic_prefix + topic,
        bootstrap_servers=stack.bootstrap,
        group_id=f"probe-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    found: list[Any] = []
    try:

        async def poll() -> bool:
            batches = await consumer.getmany(timeout_ms=200)
            found.extend(r for rs in batches.values() for r in rs if match(r))
            return len(found) >= want

        await eventually(poll, timeout=timeout, interval=0)
    finally:
        await consumer.stop()
    return found


async def test_mixed_batch_stores_valid_once_and_dead_letters_the_rest(
    stack: Stack, producer: Any, client: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:8]
    valid = [make_event(event_id=f"{tag}-ok-{i}") for i in range(30)]
    dups = [valid[i] for i in range(0, 30, 3)]  # 10 replays of already-sent events
    bad = [
        (
            orjson.dumps(
                make_event(
                    event_id=f"{tag}-bad-lat", location={"lat": 50, "lon": 117.1, "admin_code": "370102"}
                )
            ),
            "location.lat",
        ),
        (f"{tag} not json".encode(), "malformed JSON"),
        (orjson.dumps(make_event(event_id=f"{tag}-bad-plate", plate="XYZ")), "plate:"),
        (
            orjson.dumps(make_event(event_id=f"{tag}-bad-bac", measurements={"bac_mg_100ml": 900})),
            "measurements.bac_mg_100ml",
        ),
    ]
    topic = stack.topic_prefix + CAMERA_VIOLATIONS
    for e in valid + dups:
        await producer.send(topic, orjson.dumps(e), key=e["device_id"].encode())
    for raw, _ in bad:
        await producer.send(topic, raw, key=b"dev-x")
    await producer.flush()

    async def stored() -> bool:
        r = await client.get("/v1/violations", params={"limit": 500})
        ids = {i["event_id"] for i in r.json()["items"]}
        return {e["event_id"] for e in valid} <= ids

    await eventually(stored)
    # Exactly once each.
    r = await client.get("/v1/violations", params={"limit": 500})
    mine = [i for i in r.json()["items"] if i["event_id"].startswith(tag)]
    assert sorted(i["event_id"] for i in mine) == sorted(e["event_id"] for e in valid)

    # Every bad one is dead-lettered with its reason, on the topic and through the API.
    dlq = await drain(
        stack, CAMERA_VIOLATIONS_DLQ, want=len(bad), match=lambda rec: tag.encode() in rec.value
    )
    assert len(dlq) == len(bad)
    by_value = {rec.value: dict(rec.headers) for rec in dlq}
    for raw, reason in bad:
        headers = by_value[raw]
        assert reason in headers["qzx-error"].decode()
        assert headers["qzx-source-topic"].decode() == CAMERA_VIOLATIONS
        assert int(headers["qzx-source-offset"].decode()) >= 0
    api = (await client.get("/v1/dlq", params={"limit": 500})).json()["items"]
    api_mine = [d for d in api if tag in d["raw"]]
    assert len(api_mine) == len(bad)

    # Forwarded once each, normalised and keyed by plate.
    accepted = await drain(
        stack,
        VIOLATIONS_ACCEPTED,
        want=len(valid),
        match=lambda rec: orjson.loads(rec.value)["event_id"].startswith(f"{tag}-ok"),
    )
    assert sorted(orjson.loads(rec.value)["event_id"] for rec in accepted) == sorted(
        e["event_id"] for e in valid
    )
    assert all(rec.key == orjson.loads(rec.value)["plate"].encode() for rec in accepted)


async def test_event_visible_by_id_within_a_second(
    stack: Stack, producer: Any, client: httpx.AsyncClient
) -> None:
    event = make_event()
    await producer.send_and_wait(stack.topic_prefix + CAMERA_VIOLATIONS, orjson.dumps(event))

    async def found() -> bool:
        return (await client.get(f"/v1/violations/{event['event_id']}")).status_code == 200

    await eventually(found, timeout=1.0, interval=0.02)
    body = (await client.get(f"/v1/violations/{event['event_id']}")).json()
    assert body["plate"] == event["plate"]
    assert body["measurements"]["bac_mg_100ml"] == 92
