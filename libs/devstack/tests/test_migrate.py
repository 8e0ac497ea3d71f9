"""`qzx migrate` and `python -m qzx_<service> migrate` against the real servers: every schema at its
Alembic head and the topics created, idempotently, in a fresh database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from qzx_common.db import create_engine
from qzx_common.settings import to_asyncpg_url
from qzx_common.topics import ALL_TOPICS
from qzx_dev.embedded import create_database, drop_database
from qzx_dev.migrate import SERVICES, main, target
from qzx_dev.testing import Stack

pytestmark = [pytest.mark.db, pytest.mark.kafka]


@pytest.fixture
def fresh(stack: Stack) -> Iterator[dict[str, str]]:
    name = f"qzx_migrate_{uuid.uuid4().hex[:8]}"
    url = create_database(stack.server_url, name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QZX_")}
    env.update(
        QZX_DATABASE_URL=url,
        QZX_KAFKA_BOOTSTRAP=stack.bootstrap,
        QZX_TOPIC_PREFIX=f"{stack.topic_prefix}mig{uuid.uuid4().hex[:6]}.",
        QZX_LOG_JSON="false",
    )
    try:
        yield env
    finally:
        drop_database(stack.server_url, name)


def heads() -> dict[str, str]:
    out = {}
    for service in SERVICES:
        t = target(service)
        cfg = Config()
        cfg.set_main_option("script_location", str(t.migrations_dir))
        (out[t.schema],) = ScriptDirectory.from_config(cfg).get_heads()
    return out


async def versions(url: str, schemas: list[str]) -> dict[str, str | None]:
    engine = create_engine(to_asyncpg_url(url), pool_size=1)
    found: dict[str, str | None] = {}
    try:
        async with engine.connect() as conn:
            for schema in schemas:
                exists = await conn.scalar(text("SELECT to_regclass(:t)"), {"t": f"{schema}.alembic_version"})
                found[schema] = (
                    await conn.scalar(text(f'SELECT version_num FROM "{schema}".alembic_version'))
                    if exists
                    else None
                )
    finally:
        await engine.dispose()
    return found


async def topics(bootstrap: str, prefix: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {t[len(prefix) :] for t in await admin.list_topics() if t.startswith(prefix)}
    finally:
        await admin.close()


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )


async def test_qzx_migrate_brings_every_schema_to_head_and_creates_the_topics(fresh: dict[str, str]) -> None:
    want = heads()
    url = fresh["QZX_DATABASE_URL"]
    assert await versions(url, list(want)) == dict.fromkeys(want)

    done = await asyncio.to_thread(run, ["-m", "qzx_dev.cli", "migrate"], fresh)
    assert done.returncode == 0, done.stderr
    assert await versions(url, list(want)) == want
    assert set(ALL_TOPICS) <= await topics(fresh["QZX_KAFKA_BOOTSTRAP"], fresh["QZX_TOPIC_PREFIX"])

    # A service's own command, on a schema already at head: nothing to do, and success.
    again = await asyncio.to_thread(run, ["-m", "qzx_ingest", "migrate"], fresh)
    assert again.returncode == 0, again.stderr
    assert await versions(url, list(want)) == want


async def test_a_service_migrates_only_its_own_schema(fresh: dict[str, str]) -> None:
    want = heads()
    done = await asyncio.to_thread(run, ["-m", "qzx_dispatch", "migrate"], fresh)
    assert done.returncode == 0, done.stderr
    assert await versions(fresh["QZX_DATABASE_URL"], list(want)) == {
        "ingest": None,
        "alerts": None,
        "dispatch": want["dispatch"],
    }


def test_an_unknown_service_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["ingest", "billing"])
    assert exit_.value.code == 2
    assert "unknown service billing" in capsys.readouterr().err
