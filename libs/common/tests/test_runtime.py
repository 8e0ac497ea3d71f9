"""A service's runtime against the real database and broker: consumers join in the background, and a
consumer that stops on an error makes the service not ready (at once, not at shutdown)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import MetaData, text

from qzx_common.db import create_engine
from qzx_common.kafka.deadletter import dead_letters_table
from qzx_common.kafka.outbox import outbox_table
from qzx_common.runtime import Runtime
from qzx_common.settings import CommonSettings, to_asyncpg_url
from qzx_dev.testing import Stack, eventually

pytestmark = [pytest.mark.db, pytest.mark.kafka]


@pytest.fixture
async def schema(stack: Stack) -> AsyncIterator[str]:
    """A schema of the test's own with the outbox table every runtime relays from."""
    name = f"rt_{uuid.uuid4().hex[:8]}"
    engine = create_engine(to_asyncpg_url(stack.database_url))
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{name}"'))
        await conn.run_sync(outbox_table(MetaData(schema=name)).create)
        await conn.run_sync(dead_letters_table(MetaData(schema=name)).create)
    try:
        yield name
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        await engine.dispose()


async def test_a_consumer_that_cannot_start_makes_the_service_not_ready(stack: Stack, schema: str) -> None:
    settings = CommonSettings(
        database_url=stack.database_url,
        kafka_bootstrap=stack.bootstrap,
        topic_prefix=stack.topic_prefix,
        migrate_on_start=False,
        log_json=False,
    )
    rt = await Runtime.start(settings=settings, schema=schema, migrations_dir=Path("."))
    app = FastAPI()
    app.state.runtime = rt
    checks = Runtime.ready_checks(app)

    async def handle(batch: Any) -> None:
        return None

    try:
        rt.consume(topics=["violations.accepted.v1"], group="runtime-ok", handle=handle)
        await checks["database"]()
        await checks["consumers"]()  # joining, or joined: ready either way

        rt.settings = settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:1"})  # nothing listens
        rt.consume(topics=["violations.accepted.v1"], group="runtime-bad", handle=handle)

        async def reported() -> str:
            try:
                await checks["consumers"]()
            except RuntimeError as exc:
                return str(exc)
            return ""

        assert "runtime-bad-consumer stopped" in await eventually(reported, timeout=10)
    finally:
        await rt.stop()


async def test_a_partition_that_does_not_advance_makes_the_service_not_ready_until_it_does(
    stack: Stack, schema: str, producer: Any
) -> None:
    """A batch retried while the database is away (a transient failure) holds its partition: past
    ``consumer_stall_s`` the service is not ready, naming group, partition and last error."""
    topic = f"stall-{uuid.uuid4().hex[:8]}"
    settings = CommonSettings(
        database_url=stack.database_url,
        kafka_bootstrap=stack.bootstrap,
        topic_prefix=stack.topic_prefix,
        migrate_on_start=False,
        log_json=False,
        consumer_stall_s=0.5,
    )
    rt = await Runtime.start(settings=settings, schema=schema, migrations_dir=Path("."))
    app = FastAPI()
    app.state.runtime = rt
    checks = Runtime.ready_checks(app)
    away = True

    async def handle(batch: Any) -> None:
        if away:
            raise ConnectionRefusedError("the database is away")

    async def reported() -> str:
        try:
            await checks["consumers"]()
        except RuntimeError as exc:
            return str(exc)
        return ""

    async def ready() -> bool:
        return await reported() == ""

    async def partition_stall() -> str:  # not the join's: the group takes more than 0.5 s
        why = await reported()
        return why if "has not advanced" in why else ""

    try:
        await producer.send_and_wait(stack.topic_prefix + topic, b"x", partition=0)
        rt.consume(topics=[topic], group="runtime-stall", handle=handle)
        stall = await eventually(partition_stall, timeout=20)
        assert f"runtime-stall {stack.topic_prefix}{topic}[0] has not advanced" in stall
        assert "ConnectionRefusedError: the database is away" in stall
        away = False
        await eventually(ready, timeout=40)  # the retry after the backoff commits it
    finally:
        await rt.stop()
