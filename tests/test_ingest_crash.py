"""Fault test: the ingest consumer is SIGKILLed mid-stream and restarted; nothing is lost and
nothing is stored twice.

The service runs as a real process (``python -m qzx_ingest``) against the real database and broker,
with its own database and topic prefix. The camera topic is filled first, the process starts
consuming, and is killed once some rows are stored but not all; a second process takes over from
the committed offsets, and the batch that was in flight is redelivered and absorbed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from qzx_common.kafka.admin import ensure_topics
from qzx_common.topics import CAMERA_VIOLATIONS, VIOLATIONS_ACCEPTED
from qzx_dev.embedded import create_database, drop_database, free_port
from qzx_dev.simulator import EventGenerator, SimMessage
from qzx_dev.testing import Stack, eventually

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.timeout(120)]

TOTAL = 20_000


class Ingest:
    """One ``python -m qzx_ingest`` process, logging to a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "qzx_ingest"], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def assert_running(self) -> None:
        assert self.proc.poll() is None, f"ingest exited with {self.proc.returncode}:\n{self.tail()}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
async def crash_db(stack: Stack) -> AsyncIterator[str]:
    name = f"qzx_crash_{uuid.uuid4().hex[:8]}"
    url = await asyncio.to_thread(create_database, stack.server_url, name)
    yield url
    await asyncio.to_thread(drop_database, stack.server_url, name)


async def produce(stack: Stack, topic: str, messages: list[SimMessage]) -> list[tuple[int, int]]:
    """Send everything; returns each message's (partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        futures = [await producer.send(topic, m.value, key=m.key) for m in messages]
        metadata = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return [(md.partition, md.offset) for md in metadata]


async def count_rows(conn: asyncpg.Connection, table: str) -> int:
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM ingest.{table}"))
    except asyncpg.UndefinedTableError:  # migrations not run yet
        return 0


async def accepted_ids(stack: Stack, topic: str, want: set[str]) -> set[str]:
    import orjson

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.bootstrap,
        group_id=f"probe-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    seen: set[str] = set()
    try:

        async def all_seen() -> bool:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            seen.update(orjson.loads(r.value)["event_id"] for rs in batches.values() for r in rs)
            return want <= seen

        await eventually(all_seen, timeout=30, interval=0)
    finally:
        await consumer.stop()
    return seen


async def test_consumer_killed_mid_batch_and_restarted_loses_and_duplicates_nothing(
    stack: Stack, crash_db: str, tmp_path: Path
) -> None:
    prefix = f"{stack.topic_prefix}crash{uuid.uuid4().hex[:6]}."
    messages = EventGenerator(seed=21, dup_share=0.05, bad_share=0.02).batch(TOTAL)
    valid_ids = {m.event_id for m in messages if m.kind == "valid"}
    assert len(valid_ids) == sum(m.kind == "valid" for m in messages)
    await ensure_topics(stack.bootstrap, prefix=prefix)
    positions = await produce(stack, prefix + CAMERA_VIOLATIONS, messages)
    bad_positions = [p for m, p in zip(messages, positions, strict=True) if m.kind == "malformed"]
    assert len(bad_positions) > 100 and sum(m.kind == "duplicate" for m in messages) > 500

    env = os.environ | {
        "QZX_DATABASE_URL": stack.service_url(crash_db),
        "QZX_MIGRATE_DATABASE_URL": crash_db,
        "QZX_KAFKA_BOOTSTRAP": stack.bootstrap,
        "QZX_TOPIC_PREFIX": prefix,
        "QZX_INGEST_PORT": str(free_port()),
        "QZX_MAX_BATCH": "500",  # many batches, so the kill lands in the middle of the stream
        "QZX_LOG_JSON": "false",
    }
    conn = await asyncpg.connect(crash_db)
    first = Ingest(env, tmp_path / "ingest-1.log")
    second: Ingest | None = None
    try:

        async def some_stored() -> int:
            first.assert_running()
            return await count_rows(conn, "violations")

        await eventually(some_stored, timeout=45, interval=0.01)
        first.proc.kill()  # SIGKILL: no shutdown hooks, no final commit
        first.proc.wait()
        stored_at_kill = await count_rows(conn, "violations")
        assert 0 < stored_at_kill < len(valid_ids), "the kill must land while consuming"

        second = Ingest(env, tmp_path / "ingest-2.log")

        async def all_applied() -> bool:
            second.assert_running()  # type: ignore[union-attr]
            return (
                await count_rows(conn, "violations") >= len(valid_ids)
                and await count_rows(conn, "dead_letters") >= len(bad_positions)
                and await count_rows(conn, "outbox") == 0
            )

        await eventually(all_applied, timeout=60, interval=0.1)

        stored = [r["event_id"] for r in await conn.fetch("SELECT event_id FROM ingest.violations")]
        assert len(stored) == len(valid_ids) and set(stored) == valid_ids
        dead = [
            (r["source_partition"], r["source_offset"])
            for r in await conn.fetch("SELECT source_partition, source_offset FROM ingest.dead_letters")
        ]
        assert sorted(dead) == sorted(bad_positions)  # every bad message, exactly once
        # At least once on the wire: every accepted event forwarded, nothing else.
        assert await accepted_ids(stack, prefix + VIOLATIONS_ACCEPTED, valid_ids) == valid_ids
    finally:
        await conn.close()
        first.stop()
        if second is not None:
            second.stop()
