"""`qzx reconcile` against the real stack: the three services as processes, the simulator's mix
(duplicates and malformed messages included) through the camera topic. Clean after a normal run;
then each kind of discrepancy is planted in the database and reported, with its id."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from qzx_common.topics import CAMERA_VIOLATIONS
from qzx_dev.faults.deployment import Deployment, deployment
from qzx_dev.simulator import EventGenerator
from qzx_dev.testing import Stack

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.timeout(240)]

EVENTS = 1500


def run_cli(d: Deployment) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qzx_dev.cli", "reconcile"],
        env=os.environ | d.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def send(d: Deployment, n: int) -> None:
    messages = EventGenerator(seed=5, dup_share=0.05, bad_share=0.03).batch(n)
    producer = AIOKafkaProducer(bootstrap_servers=d.bootstrap, linger_ms=5)
    await producer.start()
    try:
        await asyncio.gather(
            *[await producer.send(d.prefix + CAMERA_VIOLATIONS, m.value, key=m.key) for m in messages]
        )
    finally:
        await producer.stop()


async def plant(conn: asyncpg.Connection) -> dict[tuple[str, str], str]:
    """One of each discrepancy; returns (kind, what) → the id the report must name."""
    planted: dict[tuple[str, str], str] = {}
    q, one = conn.execute, conn.fetchval
    # A camera event whose row is gone: neither stored nor dead-lettered.
    lost = await one(
        "SELECT event_id FROM ingest.violations WHERE source = 'camera' ORDER BY event_id LIMIT 1"
    )
    await q("DELETE FROM ingest.violations WHERE event_id = $1", lost)
    planted[("unaccounted", CAMERA_VIOLATIONS)] = lost
    # Stored but never forwarded (a row no outbox or topic knows).
    await q(
        """INSERT INTO ingest.violations SELECT 'planted-unforwarded', device_id, violation, plate,
           admin_code, captured_at, lat, lon, source, payload, received_at FROM ingest.violations LIMIT 1"""
    )
    planted[("not_forwarded", "violations.accepted.v1")] = "planted-unforwarded"
    # Forwarded but never scored.
    unscored = await one("SELECT event_id FROM alerts.sightings ORDER BY event_id DESC LIMIT 1")
    await q("DELETE FROM alerts.sightings WHERE event_id = $1", unscored)
    planted[("not_scored", "violations.accepted.v1")] = unscored
    # An event in two violation alerts.
    twin = await one("SELECT id FROM alerts.alerts WHERE kind = 'violation' ORDER BY id LIMIT 1")
    await q("CREATE TEMP TABLE twin AS SELECT * FROM alerts.alerts WHERE id = $1", twin)
    await q("UPDATE twin SET id = 'planted-twin', task_id = NULL, priority = 'P4'")
    await q("INSERT INTO alerts.alerts SELECT * FROM twin")
    event = await one("SELECT event_ids[1] FROM alerts.alerts WHERE id = $1", twin)
    planted[("stored_twice", "event in two violation alerts")] = event
    # A new P1 alert dispatch never heard of.
    await q("UPDATE twin SET id = 'planted-p1', priority = 'P1', status = 'new', event_ids = '{}'")
    await q("INSERT INTO alerts.alerts SELECT * FROM twin")
    planted[("priority_unhandled", "P1/P2")] = "planted-p1"
    # alerts' copy of a task older than dispatch's.
    task = await one("SELECT id FROM dispatch.tasks ORDER BY id LIMIT 1")
    await q("UPDATE alerts.alert_tasks SET version = version - 1 WHERE task_id = $1", task)
    planted[("task_disagrees", "alerts' copy of the task is missing or older")] = task
    # A dead letter that never reached its .dlq topic.
    await q(
        """INSERT INTO dispatch.dead_letters (source, source_partition, source_offset, source_timestamp,
           digest, consumer, raw, error) VALUES ('alerts.v1', 0, 999999, 1, '\\x00', 'planted', '\\x00', 'planted')"""
    )
    planted[("dlq_missing", "dispatch")] = "alerts.v1:0/999999"
    # An outbox row nobody relays.
    row = await one("INSERT INTO dispatch.outbox (topic, value) VALUES ('planted', '\\x00') RETURNING id")
    planted[("backlog", "dispatch.outbox")] = f"row {row}"
    return planted


async def test_clean_after_a_normal_run_and_each_planted_discrepancy_reported(
    stack: Stack, tmp_path: Path
) -> None:
    # No deadline clock: a P1 unsigned for 60 s would move to the next unit while reconcile reads
    # (nobody signs here), and a run on a slow machine outlasts that.
    async with deployment(stack, tmp_path, env={"QZX_DEADLINE_TICK_S": "3600"}) as d:
        await send(d, EVENTS)
        report = await d.settled(timeout=120)
        c = report.counts
        assert c["camera records"] == EVENTS
        assert c["camera records"] == c["camera stored"] + c["camera dead-lettered"] + c["camera duplicates"]
        assert c["camera dead-lettered"] > 20 and c["camera duplicates"] > 30
        assert c["tasks"] > 0 and c["alerts P1/P2"] > 0, c  # the checks had something to check
        clean = await asyncio.to_thread(run_cli, d)
        assert clean.returncode == 0, clean.stdout + clean.stderr
        assert "reconcile: clean" in clean.stdout

        for s in d.services.values():  # nothing may repair what is planted
            s.stop()
        conn = await asyncpg.connect(d.database_url)
        try:
            planted = await plant(conn)
        finally:
            await conn.close()
        report = await d.reconcile()
        found = {(x.kind, x.what): x for x in report.discrepancies}
        for where, ident in planted.items():
            assert where in found, f"{where} not reported:\n{report.render()}"
            assert ident in found[where].sample, f"{where}: {ident} not among {found[where].sample}"
        assert set(found) == set(planted), report.render()
        dirty = await asyncio.to_thread(run_cli, d)
        assert dirty.returncode == 1, dirty.stdout + dirty.stderr
        assert "planted-p1" in dirty.stdout
