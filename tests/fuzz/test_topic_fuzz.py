"""Fuzzing through the real topics: the three services as processes, mutated camera messages
(``qzx_dev.fuzz.camera``) mixed with valid ones onto the camera topic, the same payloads through
the exchange endpoint, then valid accidents (each twice) onto accidents.reported.v1 and garbage onto the topics ingest,
alerts and dispatch consume.

Each camera message ends stored, dead-lettered with a reason, or dropped as a duplicate, and the
counts add up (in = stored + dead-lettered + duplicates, `qzx reconcile` clean); every valid one is
stored; every exchange item gets one verdict and no request a server error; every piece of garbage
on violations.accepted.v1, alerts.v1 and dispatch.tasks.v1 ends in its consumer's dead letters with
a reason; and no consumer stops. `make test` runs a fixed-seed sample; `make fuzz` sets
QZX_FUZZ_MESSAGES=100000 and a fresh seed (printed, to replay a failure with QZX_FUZZ_SEED)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pydantic_core
import pytest
from aiokafka import AIOKafkaProducer

from qzx_common.contracts.samples import make_accident
from qzx_common.reconcile.topics import read_range
from qzx_common.topics import (
    ACCIDENTS_ACCEPTED,
    ACCIDENTS_REPORTED,
    ALERTS,
    CAMERA_VIOLATIONS,
    DISPATCH_TASKS,
    VIOLATIONS_ACCEPTED,
)
from qzx_common.web.exchange import sign_headers
from qzx_dev.faults.deployment import Deployment, deployment
from qzx_dev.fuzz.camera import CameraFuzz, FuzzMessage
from qzx_dev.fuzz.garbage import garbage
from qzx_dev.testing import Stack

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.timeout(3600)]

MESSAGES = int(os.environ.get("QZX_FUZZ_MESSAGES", "600"))
SEED = int(os.environ.get("QZX_FUZZ_SEED", "1717"))
EXCHANGE_ITEMS = max(200, MESSAGES // 10)
GARBAGE = max(100, MESSAGES // 50)  # onto each internal topic
PARTNER = {"fuzz": {"secret": "fuzz-partner-secret-0123456789", "admin_prefix": "37"}}
EXCHANGE_PATH = "/v1/exchange/violations"
# Which schemas' consumers dead-letter what they cannot take from each internal topic.
CONSUMER_OF = {
    VIOLATIONS_ACCEPTED: ("alerts",),
    DISPATCH_TASKS: ("alerts",),
    ALERTS: ("dispatch",),
    ACCIDENTS_REPORTED: ("ingest",),
    ACCIDENTS_ACCEPTED: ("alerts", "dispatch"),
}
ACCIDENTS = 20  # valid reports onto accidents.reported.v1, each sent twice


async def send(d: Deployment, topic: str, values: list[tuple[bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=d.bootstrap, linger_ms=20, max_request_size=2 * 1024 * 1024, acks="all"
    )
    await producer.start()
    try:
        for i in range(0, len(values), 2000):
            futures = [await producer.send(topic, v, key=k) for k, v in values[i : i + 2000]]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def dead_letters(d: Deployment, schema: str, source: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(d.database_url)
    try:
        return await conn.fetch(
            f"SELECT source_partition, source_offset, error FROM {schema}.dead_letters WHERE source = $1",
            source,
        )
    finally:
        await conn.close()


async def stored_ids(d: Deployment) -> set[str]:
    conn = await asyncpg.connect(d.database_url)
    try:
        return {r[0] for r in await conn.fetch("SELECT event_id FROM ingest.violations")}
    finally:
        await conn.close()


async def accident_count(d: Deployment) -> int:
    conn = await asyncpg.connect(d.database_url)
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM ingest.accidents WHERE accident_id LIKE '370102-FZ-%'")
        )
    finally:
        await conn.close()


async def one_record(d: Deployment, topic: str) -> dict[str, Any] | None:
    async for chunk in read_range(d.bootstrap, d.prefix + topic, timeout_s=60):
        for r in chunk:
            doc = orjson.loads(r.value)
            if isinstance(doc, dict):
                return doc
    return None


def assert_running(d: Deployment) -> None:
    for s in d.services.values():
        s.assert_running()


async def post_exchange(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    secret = PARTNER["fuzz"]["secret"]
    headers = sign_headers(
        key_id="fuzz", secret=secret, method="POST", path_with_query=EXCHANGE_PATH, body=body
    )
    return await client.post(
        EXCHANGE_PATH, content=body, headers=headers | {"content-type": "application/json"}
    )


def batchable(value: bytes) -> Any | None:
    """The item, when a batch body holding it is still JSON the service's parser (pydantic's) reads:
    it is stricter than `json` (lone surrogates, nesting past 200 levels). Else None, and the
    payload goes as a body of its own, so that one such item does not refuse a whole batch."""
    try:
        item = json.loads(value)
        pydantic_core.from_json(
            json.dumps({"events": [item]}, ensure_ascii=False).encode("utf-8", "surrogatepass")
        )
    except (ValueError, RecursionError):
        return None
    return item


async def exchange(d: Deployment, messages: list[FuzzMessage]) -> dict[str, int]:
    """The payloads through the exchange, 100 items a request; raw bodies for what is no JSON."""
    totals = {"items": 0, "accepted": 0, "duplicates": 0, "rejected": 0, "bodies refused": 0}
    items: list[Any] = []
    async with httpx.AsyncClient(base_url=d.services["ingest"].url, timeout=60) as client:
        for m in messages:
            item = batchable(m.value)
            if item is not None:
                items.append(item)
            else:
                r = await post_exchange(client, m.value)
                assert r.status_code in (202, 413, 422), r.text[:500]
                totals["bodies refused"] += r.status_code != 202
        for i in range(0, len(items), 100):
            batch = items[i : i + 100]
            body = json.dumps({"events": batch}, ensure_ascii=False).encode("utf-8", "surrogatepass")
            r = await post_exchange(client, body)
            assert r.status_code < 500, r.text[:500]
            if r.status_code != 202:
                totals["bodies refused"] += 1
                continue
            out = r.json()
            assert all(isinstance(x["error"], str) and x["error"] for x in out["rejected"])
            assert out["accepted"] + out["duplicates"] + len(out["rejected"]) == len(batch), out
            totals["items"] += len(batch)
            for k in ("accepted", "duplicates"):
                totals[k] += out[k]
            totals["rejected"] += len(out["rejected"])
    return totals


async def test_fuzzed_messages_all_end_stored_or_dead_lettered_and_the_consumers_keep_running(
    stack: Stack, tmp_path: Path
) -> None:
    print(f"\nfuzz: {MESSAGES} camera messages, seed {SEED}")
    env = {"QZX_EXCHANGE_KEYS": json.dumps(PARTNER), "QZX_MAX_BODY_BYTES": str(2 * 1024 * 1024)}
    async with deployment(stack, tmp_path, env=env) as d:
        started = time.monotonic()
        fuzz = CameraFuzz(seed=SEED)
        messages = fuzz.batch(MESSAGES)
        await send(d, d.prefix + CAMERA_VIOLATIONS, [(m.key, m.value) for m in messages])
        report = await d.settled(timeout=max(180, MESSAGES / 100))
        assert_running(d)
        c = report.counts
        assert c["camera records"] == MESSAGES
        assert c["camera records"] == c["camera stored"] + c["camera dead-lettered"] + c["camera duplicates"]
        valid = {m.event_id for m in messages if m.kind == "valid"}
        assert valid <= await stored_ids(d), "a valid camera message was not stored"
        letters = await dead_letters(d, "ingest", CAMERA_VIOLATIONS)
        assert len(letters) == c["camera dead-lettered"] and all(r["error"] for r in letters)
        kinds = {m.mutation for m in messages}
        print(
            f"fuzz: camera {MESSAGES} in = {c['camera stored']} stored + {c['camera dead-lettered']} "
            f"dead-lettered + {c['camera duplicates']} duplicates ({len(kinds) - 1} mutation kinds) "
            f"in {time.monotonic() - started:.0f} s"
        )

        totals = await exchange(d, CameraFuzz(seed=SEED + 1).batch(EXCHANGE_ITEMS))
        assert totals["items"] > 0
        print(f"fuzz: exchange {totals}")

        # Valid accidents on their topic, each twice (a redelivering reporter): stored once each,
        # and forwarded, so the accident topics have real records for the garbage to break.
        reports = [
            orjson.dumps(make_accident(accident_id=f"370102-FZ-{SEED}-{i:04d}")) for i in range(ACCIDENTS)
        ]
        await send(d, d.prefix + ACCIDENTS_REPORTED, [(None, v) for v in reports + reports])
        await d.settled(timeout=180)
        assert await accident_count(d) == ACCIDENTS

        rng = random.Random(SEED)
        for topic, schemas in CONSUMER_OF.items():
            before = {s: len(await dead_letters(d, s, topic)) for s in schemas}
            # Raw garbage no reader can take: every piece dead-lettered. Real records with a field
            # broken: dead-lettered, or applied where the consumer does not read that field (its
            # input was validated upstream); either way consumed, nothing stuck.
            raw = garbage(rng, GARBAGE)
            broken = garbage(rng, GARBAGE, sample=await one_record(d, topic))
            await send(d, d.prefix + topic, [(None, v) for v in raw + broken])
            await d.settled(timeout=180)  # every group caught up, nothing unaccounted
            for schema in schemas:
                letters = await dead_letters(d, schema, topic)
                new = len(letters) - before[schema]
                assert new >= GARBAGE, f"{topic} by {schema}: {new} of {GARBAGE}"
                assert all(r["error"] for r in letters)
                print(
                    f"fuzz: {topic} {GARBAGE} raw garbage + {GARBAGE} broken records: "
                    f"{new} dead-lettered by {schema}, the rest applied"
                )
        assert await accident_count(d) == ACCIDENTS  # garbage stored no accident
        assert_running(d)
