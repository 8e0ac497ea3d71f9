"""The sampled gauges against the real database and broker: a consumer's lag counts records
fetched but not applied and falls to zero once they are; the outbox backlog counts unpublished rows
and their age; the pool and readiness are reported; a stopped sampler's series are gone."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine

from qzx_common.db import create_engine
from qzx_common.kafka.outbox import outbox_table
from qzx_common.kafka.runner import ConsumerRunner
from qzx_common.metrics import Sampler
from qzx_common.settings import to_asyncpg_url
from qzx_dev.testing import Stack, eventually

pytestmark = [pytest.mark.db, pytest.mark.kafka]


@pytest.fixture
async def engine(stack: Stack) -> AsyncIterator[tuple[AsyncEngine, str]]:
    name = f"mx_{uuid.uuid4().hex[:8]}"
    engine = create_engine(to_asyncpg_url(stack.database_url))
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{name}"'))
        await conn.run_sync(outbox_table(MetaData(schema=name)).create)
    try:
        yield engine, name
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        await engine.dispose()


def value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_lag_backlog_pool_and_readiness_are_sampled(
    stack: Stack, engine: tuple[AsyncEngine, str], producer: Any
) -> None:
    db, schema = engine
    topic = f"{stack.topic_prefix}lag-{uuid.uuid4().hex[:8]}"
    for n in range(5):
        await producer.send_and_wait(topic, f"{n}".encode(), partition=0)
    release = asyncio.Event()

    async def handle(records: Any) -> None:
        await release.wait()  # held: the records are fetched, not applied

    group = f"lag-{topic}"
    runner = ConsumerRunner(bootstrap=stack.bootstrap, topics=[topic], group_id=group, handle=handle)
    ready = True

    async def check() -> None:
        if not ready:
            raise RuntimeError("not ready")

    sampler = Sampler(schema=schema, engine=db, consumers=[runner], ready=[check])
    async with db.begin() as conn:
        await conn.execute(
            text(
                f"INSERT INTO \"{schema}\".outbox (topic, value, created_at) VALUES ('t', 'x', now() - interval '90 s')"
            )
        )
    await runner.start()
    task = asyncio.create_task(runner.run())
    lag = {"group": group, "topic": topic, "partition": "0"}
    try:

        async def lag_is(want: float) -> bool:
            await sampler.sample()
            return value("qzx_consumer_lag", **lag) == want

        await eventually(lambda: lag_is(5.0), timeout=30)  # fetched, held in the handler
        assert value("qzx_relay_backlog", schema=schema, relay="outbox") == 1.0
        assert (value("qzx_relay_oldest_age_seconds", schema=schema, relay="outbox") or 0) >= 90
        assert value("qzx_db_pool_connections", schema=schema, state="size") == db.sync_engine.pool.size()
        assert value("qzx_ready", schema=schema) == 1.0

        release.set()
        await eventually(lambda: lag_is(0.0), timeout=30)
        ready = False
        await sampler.sample()
        assert value("qzx_ready", schema=schema) == 0.0
    finally:
        release.set()
        runner.stop()
        await task
    sampler.stop()
    assert f'schema="{schema}"' not in generate_latest().decode()
