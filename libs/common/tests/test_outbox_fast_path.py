"""The outbox's fast path against the real database and broker: rows handed over after commit are
published from memory and deleted; rows someone else claimed are not sent twice; rows nobody hands
over (a crash between commit and publish) are the poller's, after the grace period."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine

from qzx_common.db import create_engine
from qzx_common.kafka.deadletter import dead_letters_table
from qzx_common.kafka.outbox import OutboxMessage, OutboxRelay, Staged, outbox_table, stage
from qzx_common.settings import to_asyncpg_url
from qzx_dev.testing import Stack, read_topic

pytestmark = [pytest.mark.db, pytest.mark.kafka]


class Env:
    def __init__(
        self, engine: AsyncEngine, producer: AIOKafkaProducer, schema: str, topic: str, stack: Stack
    ):
        self.engine, self.producer, self.schema, self.topic, self.stack = (
            engine,
            producer,
            schema,
            topic,
            stack,
        )

    def relay(self, **options: Any) -> OutboxRelay:
        return OutboxRelay(engine=self.engine, producer=self.producer, schema=self.schema, **options)

    async def stage(self, *values: bytes) -> Staged:
        messages = [OutboxMessage(self.topic, v, key=v[:1]) for v in values]
        async with self.engine.begin() as conn:
            return await stage(conn, schema=self.schema, messages=messages)

    async def rows(self) -> list[bytes]:
        async with self.engine.connect() as conn:
            result = await conn.execute(text(f'SELECT value FROM "{self.schema}".outbox ORDER BY id'))
            return [bytes(r[0]) for r in result]

    async def published(self, want: int, timeout: float = 15) -> list[bytes]:
        records = await read_topic(self.stack.bootstrap, self.topic, want=want, timeout=timeout)
        return [r.value for r in records]


@pytest.fixture
async def env(stack: Stack) -> AsyncIterator[Env]:
    schema = f"outbox_{uuid.uuid4().hex[:8]}"
    topic = f"{stack.topic_prefix}outbox-test-{uuid.uuid4().hex[:8]}"
    engine = create_engine(to_asyncpg_url(stack.database_url), pool_size=4)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(outbox_table(MetaData(schema=schema)).create)
        await conn.run_sync(dead_letters_table(MetaData(schema=schema)).create)
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 2, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, linger_ms=2)
    await producer.start()
    try:
        yield Env(engine, producer, schema, topic, stack)
    finally:
        await producer.stop()
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()


async def test_handed_over_rows_are_published_from_memory_and_deleted(env: Env) -> None:
    staged = await env.stage(b"a1", b"b2", b"c3")
    # Proof that nothing is read back: the rows now say something else than memory does.
    async with env.engine.begin() as conn:
        await conn.execute(text(f"UPDATE \"{env.schema}\".outbox SET value = 'from-db'::bytea"))
    relay = env.relay()
    relay.publish_committed(staged)
    assert await relay.publish_handed_over() == 3
    assert sorted(await env.published(3)) == [b"a1", b"b2", b"c3"]
    assert await env.rows() == []


async def test_rows_claimed_elsewhere_are_not_sent_again(env: Env) -> None:
    staged = await env.stage(b"x1", b"y2", b"z3")
    async with env.engine.begin() as conn:  # another relay got y2 first
        await conn.execute(text(f"DELETE FROM \"{env.schema}\".outbox WHERE value = 'y2'::bytea"))
    relay = env.relay()
    relay.publish_committed(staged)
    assert await relay.publish_handed_over() == 2
    assert sorted(await env.published(2)) == [b"x1", b"z3"]


async def test_rows_nobody_hands_over_are_the_pollers_after_the_grace(env: Env) -> None:
    relay = env.relay(fast_path_grace_s=1.0)
    relay.publish_committed(await env.stage(b"f1"))  # this relay now uses the fast path
    await relay.publish_handed_over()
    await env.stage(b"o2")  # committed, then the writer died before handing it over
    assert await relay.relay_once(fresh=False) == 0, "fresh rows are left to their writer"
    await asyncio.sleep(1.2)
    assert await relay.relay_once(fresh=False) == 1
    assert sorted(await env.published(2)) == [b"f1", b"o2"]
    assert await env.rows() == []


async def test_the_running_relay_serves_both_paths(env: Env) -> None:
    relay = env.relay(fast_path_grace_s=0.5)
    task = asyncio.create_task(relay.run())
    try:
        relay.publish_committed(await env.stage(b"p1", b"q2"))
        await env.stage(b"r3", b"s4")
        relay.wake()  # a writer that does not hand over (e.g. an HTTP request): relayed at once
        assert sorted(await env.published(4)) == [b"p1", b"q2", b"r3", b"s4"]
        assert await env.rows() == []
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)


async def test_a_row_the_broker_refuses_is_set_aside_and_the_rows_after_it_flow(env: Env) -> None:
    """Over the broker's message size: the row goes to the dead letters with the reason, instead of
    the poller retrying it (and every row behind it) for ever."""
    too_big = b"x" * (3 * 1024 * 1024)
    await env.stage(b"a1", too_big, b"b2")
    relay = env.relay()
    assert await relay.relay_once() == 3
    assert sorted(await env.published(2)) == [b"a1", b"b2"]
    assert await env.rows() == []
    async with env.engine.connect() as conn:
        letters = (
            await conn.execute(
                text(f'SELECT source, consumer, length(raw), error FROM "{env.schema}".dead_letters')
            )
        ).all()
    assert [(s, c, n) for s, c, n, _ in letters] == [(env.topic, "outbox-relay", len(too_big))]
    assert "MessageSizeTooLarge" in letters[0][3]
