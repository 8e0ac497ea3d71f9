"""Transactional outbox: rows written in the same transaction as the change they announce,
relayed to Kafka after commit, deleted once the broker has acknowledged them.

Each service owns an ``outbox`` table in its schema (see ``outbox_table``). The relay drains it in
id order; several replicas may run relays at once (``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client import Counter
from sqlalchemy import BigInteger, Column, DateTime, Identity, LargeBinary, MetaData, String, Table, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

RELAYED = Counter("qzx_outbox_relayed_total", "Outbox rows published to Kafka", ["topic"])


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("topic", String(200), nullable=False),
        Column("key", LargeBinary, nullable=True),
        Column("value", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=True),
        Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    )


@dataclass(slots=True)
class OutboxMessage:
    topic: str
    value: bytes
    key: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


async def enqueue(conn: AsyncConnection, *, schema: str, messages: Sequence[OutboxMessage]) -> None:
    """Write messages to the outbox inside the caller's transaction (asyncpg COPY-fast path)."""
    if not messages:
        return
    raw = await driver_connection(conn)
    await raw.copy_records_to_table(
        "outbox",
        schema_name=schema,
        columns=["topic", "key", "value", "headers"],
        records=[(m.topic, m.key, m.value, _headers_json(m.headers)) for m in messages],
    )


def _headers_json(headers: dict[str, str]) -> str | None:
    return orjson.dumps(headers).decode() if headers else None


async def driver_connection(conn: AsyncConnection) -> Any:
    """The asyncpg connection under SQLAlchemy's, for COPY and array-bound bulk statements.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, with the first statement it runs itself;
    statements sent straight to the driver before that would each autocommit, and a crash between
    them would keep half a batch. So when the caller is in a transaction, the driver is put in it.
    """
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    if conn.in_transaction() and not driver.is_in_transaction():
        await conn.exec_driver_sql("SELECT 1")
    return driver


class OutboxRelay:
    def __init__(self, *, engine: AsyncEngine, producer: AIOKafkaProducer, schema: str, batch: int = 1000):
        self.engine = engine
        self.producer = producer
        self.schema = schema
        self.batch = batch
        self.wakeup = asyncio.Event()
        self.stopping = asyncio.Event()

    def wake(self) -> None:
        self.wakeup.set()

    def stop(self) -> None:
        self.stopping.set()
        self.wakeup.set()

    async def run(self) -> None:
        while not self.stopping.is_set():
            try:
                sent = await self.relay_once()
            except Exception:
                log.exception("outbox relay failed; retrying")
                sent = 0
                await asyncio.sleep(1.0)
            if sent < self.batch:
                # Idle: sleep until a local commit wakes us, or poll for other replicas' rows.
                self.wakeup.clear()
                try:
                    await asyncio.wait_for(self.wakeup.wait(), timeout=0.05)
                except TimeoutError:
                    pass
        await self.relay_once()

    async def relay_once(self) -> int:
        async with self.engine.connect() as conn:
            raw = await driver_connection(conn)
            async with raw.transaction():
                rows = await raw.fetch(
                    f'SELECT id, topic, key, value, headers FROM "{self.schema}".outbox '
                    "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                    self.batch,
                )
                if not rows:
                    return 0
                await publish_batches(self.producer, rows)
                await raw.execute(
                    f'DELETE FROM "{self.schema}".outbox WHERE id = ANY($1::bigint[])',
                    [r["id"] for r in rows],
                )
                for topic in {r["topic"] for r in rows}:
                    RELAYED.labels(topic).inc(sum(1 for r in rows if r["topic"] == topic))
                return len(rows)


_default_partitioner = DefaultPartitioner()


@functools.lru_cache(maxsize=65536)
def _partition_for(key: bytes, partitions: tuple[int, ...]) -> int:
    """The default partitioner's choice (murmur2, pure Python: worth remembering per key)."""
    return int(_default_partitioner(key, list(partitions), list(partitions)))


async def publish_batches(producer: AIOKafkaProducer, rows: Sequence[Any]) -> None:
    """Send rows (mappings with topic, key, value, headers) as per-partition record batches, far
    cheaper in Python than one send() per message; keys pick partitions exactly as the default
    partitioner does, so per-key order holds. Returns when the broker has acknowledged all."""
    partitions_of: dict[str, tuple[int, ...]] = {}
    builders: dict[tuple[str, int], Any] = {}
    futures = []
    for row in rows:
        topic = row["topic"]
        if topic not in partitions_of:
            await producer.client._wait_on_metadata(topic)
            partitions_of[topic] = tuple(sorted(producer.client.cluster.partitions_for_topic(topic) or ()))
        partitions = partitions_of[topic]
        key = row["key"]
        partition = _partition_for(key, partitions) if key is not None else random.choice(partitions)
        headers = [(k, v.encode()) for k, v in (_load(row["headers"]) or {}).items()]
        slot = (topic, partition)
        if slot not in builders:
            builders[slot] = producer.create_batch()
        if builders[slot].append(timestamp=None, key=key, value=row["value"], headers=headers) is None:
            # Full: send it and start the next batch for this partition with this record.
            futures.append(await producer.send_batch(builders[slot], topic, partition=partition))
            builders[slot] = producer.create_batch()
            builders[slot].append(timestamp=None, key=key, value=row["value"], headers=headers)
    for (topic, partition), builder in builders.items():
        futures.append(await producer.send_batch(builder, topic, partition=partition))
    await asyncio.gather(*futures)


def _load(value: object) -> dict[str, str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return orjson.loads(value)
    return value  # type: ignore[return-value]


def create_outbox_table(schema: str) -> None:
    """Migration step shared by every service chain (call from an Alembic revision)."""
    import sqlalchemy as sa
    from alembic import op

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.LargeBinary),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("headers", JSONB),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        schema=schema,
    )
