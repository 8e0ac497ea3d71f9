"""`qzx dlq replay` against the real stack: a camera record that a (simulated) bug dead-lettered is
replayed after the fix, stored exactly once, and a second replay skips it unless forced."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from qzx_common.topics import CAMERA_VIOLATIONS
from qzx_dev.faults.deployment import Deployment, deployment
from qzx_dev.simulator import EventGenerator
from qzx_dev.testing import Stack, eventually

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.timeout(240)]

REASON = "simulated bug: measurements.bac_mg_100ml refused"


def replay_cli(d: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qzx_dev.cli", "dlq", "replay", *args],
        env=os.environ | d.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def camera_events(n: int) -> list[tuple[bytes, bytes]]:
    """(key, value) of ``n`` valid camera events with the same key, each with its own id."""
    message = EventGenerator(seed=11, dup_share=0.0, bad_share=0.0).batch(1)[0]
    doc = orjson.loads(message.value)
    return [(message.key, orjson.dumps(doc | {"event_id": f"replay-{i}"})) for i in range(n)]


async def stored(conn: asyncpg.Connection, event_id: str) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM ingest.violations WHERE event_id = $1", event_id))


async def _stored_once(conn: asyncpg.Connection, event_id: str) -> bool:
    return await stored(conn, event_id) == 1


async def test_a_dead_lettered_record_is_replayed_after_the_fix_and_stored_once(
    stack: Stack, tmp_path: Path
) -> None:
    (key, value), (marker_key, marker) = camera_events(2)
    async with deployment(stack, tmp_path) as d:
        conn = await asyncpg.connect(d.database_url)
        try:
            # What the buggy ingest left: the valid record as a dead letter, with the bug's reason,
            # and one unrelated letter the selection must leave alone.
            await conn.execute(
                """INSERT INTO ingest.dead_letters (source, source_partition, source_offset,
                       source_timestamp, digest, consumer, key, raw, error)
                   VALUES ($1, 0, 7, 1, '\\x01', 'qzx-ingest', $2, $3, $4),
                          ($1, 0, 8, 1, '\\x02', 'qzx-ingest', NULL, 'not json', 'invalid JSON')""",
                CAMERA_VIOLATIONS,
                key,
                value,
                REASON,
            )
            assert await stored(conn, "replay-0") == 0

            dry = await asyncio.to_thread(replay_cli, d, "--reason", "^simulated bug", "--dry-run")
            assert dry.returncode == 0, dry.stdout + dry.stderr
            assert "replayed: 1" in dry.stdout
            assert await conn.fetchval("SELECT count(*) FROM ingest.dead_letters WHERE replays > 0") == 0

            first = await asyncio.to_thread(
                replay_cli, d, "--topic", CAMERA_VIOLATIONS, "--reason", "^simulated bug"
            )
            assert first.returncode == 0, first.stdout + first.stderr
            assert f"ingest {CAMERA_VIOLATIONS}: 1" in first.stdout and "replayed: 1" in first.stdout
            await eventually(lambda: _stored_once(conn, "replay-0"), timeout=60)
            marks = await conn.fetch("SELECT error, replays FROM ingest.dead_letters ORDER BY id")
            assert [(r["error"], r["replays"]) for r in marks] == [(REASON, 1), ("invalid JSON", 0)]

            again = await asyncio.to_thread(replay_cli, d, "--reason", "^simulated bug")
            assert again.returncode == 0, again.stdout + again.stderr
            assert "replayed: 0" in again.stdout and "--force replays them): 1" in again.stdout

            forced = await asyncio.to_thread(replay_cli, d, "--reason", "^simulated bug", "--force")
            assert "replayed: 1" in forced.stdout, forced.stdout + forced.stderr
            # A later record with the same key (so the same partition) is stored only after the
            # forced replay has been consumed: then the event is still stored exactly once.
            await _send(d, marker_key, marker)
            await eventually(lambda: _stored_once(conn, "replay-1"), timeout=60)
            assert await stored(conn, "replay-0") == 1
            assert (
                await conn.fetchval("SELECT replays FROM ingest.dead_letters WHERE error = $1", REASON) == 2
            )
        finally:
            await conn.close()


async def _send(d: Deployment, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=d.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(d.prefix + CAMERA_VIOLATIONS, value, key=key)
    finally:
        await producer.stop()
