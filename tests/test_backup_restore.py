"""Backup and restore as docs/operations.md gives them: `pg_dump` of a running deployment, restored
with `pg_restore` into a fresh database, passes `qzx reconcile` against the same topics."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from qzx_common.reconcile import reconcile
from qzx_common.settings import to_plain_url
from qzx_common.topics import CAMERA_VIOLATIONS
from qzx_dev.embedded import create_database, drop_database, pg_tool
from qzx_dev.faults.deployment import Deployment, deployment
from qzx_dev.simulator import EventGenerator
from qzx_dev.testing import Stack

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.timeout(240)]

EVENTS = 300


async def send(d: Deployment, n: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=d.bootstrap, linger_ms=5)
    await producer.start()
    try:
        for m in EventGenerator(seed=9, dup_share=0.05, bad_share=0.03).batch(n):
            await producer.send(d.prefix + CAMERA_VIOLATIONS, m.value, key=m.key)
        await producer.flush()
    finally:
        await producer.stop()


async def client_tools(database_url: str) -> tuple[str, str]:
    """pg_dump and pg_restore of the server's major version (a newer pg_restore writes settings an
    older server refuses): the embedded server's when they match, else Debian's side-by-side
    install; the test is skipped without them."""
    conn = await asyncpg.connect(to_plain_url(database_url))
    try:
        major = int(await conn.fetchval("SHOW server_version_num")) // 10000
    finally:
        await conn.close()
    version = [str(pg_tool("pg_dump")), "--version"]
    embedded = await asyncio.to_thread(subprocess.run, version, capture_output=True, text=True)
    candidates = [pg_tool("pg_dump").parent, Path(f"/usr/lib/postgresql/{major}/bin")]
    if f" {major}." not in embedded.stdout:
        candidates = candidates[1:]
    for folder in candidates:
        if (folder / "pg_dump").exists() and (folder / "pg_restore").exists():
            return str(folder / "pg_dump"), str(folder / "pg_restore")
    pytest.skip(f"no pg_dump/pg_restore for PostgreSQL {major} on this machine")


def run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{command[0]} failed:\n{done.stdout}{done.stderr}"


async def test_a_dump_of_a_running_system_restored_into_a_fresh_database_reconciles(
    stack: Stack, tmp_path: Path
) -> None:
    async with deployment(stack, tmp_path) as d:
        await send(d, EVENTS)
        before = await d.settled(timeout=120)
        assert before.counts["camera stored"] > 0 and before.counts["tasks"] > 0, before.counts

        pg_dump, pg_restore = await client_tools(d.database_url)
        dump = tmp_path / "qzx.dump"  # the services keep running while it is taken
        await asyncio.to_thread(
            run, pg_dump, "--format=custom", f"--file={dump}", to_plain_url(d.database_url)
        )
        fresh = f"qzx_restored_{uuid.uuid4().hex[:8]}"
        restored_url = await asyncio.to_thread(create_database, stack.server_url, fresh)
        try:
            await asyncio.to_thread(run, pg_restore, "--exit-on-error", f"--dbname={restored_url}", str(dump))
            settings = d.settings().model_copy(update={"database_url": restored_url})
            report = await reconcile(settings, timeout_s=60)
            assert report.clean, report.render()
            assert report.counts == before.counts, (report.counts, before.counts)
            cli = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "qzx_dev.cli", "reconcile"],
                env=os.environ | d.env() | {"QZX_DATABASE_URL": restored_url},
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert cli.returncode == 0, cli.stdout + cli.stderr
        finally:
            await asyncio.to_thread(drop_database, stack.server_url, fresh)
