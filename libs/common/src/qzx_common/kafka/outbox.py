"""Transactional outbox: rows written in the same transaction as the change they announce,
relayed to Kafka after commit, deleted once the broker has acknowledged them.

Each service owns an ``outbox`` table in its schema (see ``outbox_table``). Two ways out:

- the fast path: a writer that ``stage``s its messages keeps them in memory and, once its
  transaction has committed, hands them to ``OutboxRelay.publish_committed``. The relay claims
  the rows by deleting them (``DELETE ... RETURNING``, in a transaction held open until the broker
  has acknowledged) and publishes the claimed ones from memory, so no payload is read back. A crash
  before that commit leaves the rows for the poller: at least once on the wire.
- the poller: drains rows in id order (``FOR UPDATE SKIP LOCKED``, so replicas and the fast path
  never send a row twice). ``wake()`` makes it look at once; otherwise it looks after 50 ms, backing
  off to once a second while nothing comes, and
  once a relay has used the fast path it leaves rows younger than ``fast_path_grace_s`` to their
  writer's fast path (they are the crash fallback, not the normal route).

A row the broker refuses for good (over its message size, say) must not hold up the rows after it:
the poller publishes the others and sets it aside in the service's dead letters with the reason
(``publish_setting_aside``); a transient failure (the broker away) is retried.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import struct
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from prometheus_client import Counter
from sqlalchemy import BigInteger, Column, DateTime, Identity, LargeBinary, MetaData, String, Table, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from qzx_common.db import driver_connection
from qzx_common.kafka import deadletter
from qzx_common.kafka.deadletter import DeadLetter
from qzx_common.reasons import describe_exception
from qzx_common.tracing import traced
from qzx_common.transient import is_transient

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
    messages = traced(messages)
    raw = await driver_connection(conn)
    await raw.copy_records_to_table(
        "outbox",
        schema_name=schema,
        columns=["topic", "key", "value", "headers"],
        records=[(m.topic, m.key, m.value, _headers_json(m.headers)) for m in messages],
    )


@dataclass(slots=True)
class Staged:
    """Outbox rows written in a transaction, with their ids, to publish from memory after commit."""

    ids: list[int] = field(default_factory=list)
    messages: list[OutboxMessage] = field(default_factory=list)

    def add(self, ids: Sequence[int], messages: Sequence[OutboxMessage]) -> None:
        self.ids.extend(ids)
        self.messages.extend(messages)


def next_id_sql(schema: str) -> str:
    """SQL for a fresh outbox id, for writers that insert outbox rows in their own statements."""
    return f"nextval('\"{schema}\".outbox_id_seq')"


async def stage(conn: AsyncConnection, *, schema: str, messages: Sequence[OutboxMessage]) -> Staged:
    """``enqueue``, returning what ``OutboxRelay.publish_committed`` needs after commit."""
    if not messages:
        return Staged()
    messages = traced(messages)  # the writer's trace context travels in the headers
    raw = await driver_connection(conn)
    ids = await raw.fetchval(
        f"""
        WITH staged AS MATERIALIZED (
            SELECT {next_id_sql(schema)} AS id, m.*
            FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::text[])
                 WITH ORDINALITY AS m(topic, key, value, headers, ord)
        ), queued AS (
            INSERT INTO "{schema}".outbox (id, topic, key, value, headers)
            SELECT id, topic, key, value, headers::jsonb FROM staged
        )
        SELECT array_agg(id ORDER BY ord) FROM staged
        """,
        [m.topic for m in messages],
        [m.key for m in messages],
        [m.value for m in messages],
        [_headers_json(m.headers) for m in messages],
    )
    return Staged(list(ids), list(messages))


def _headers_json(headers: dict[str, str]) -> str | None:
    return orjson.dumps(headers).decode() if headers else None


class OutboxRelay:
    POLL_S = 0.05  # the first poll after the last row or wake-up
    MAX_POLL_S = 1.0  # polls back off to this while nothing comes

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        schema: str,
        batch: int = 1000,
        fast_path_grace_s: float = 5.0,
    ):
        self.engine = engine
        self.producer = producer
        self.schema = schema
        self.batch = batch
        self.fast_path_grace_s = fast_path_grace_s
        self.wakeup = asyncio.Event()
        self.stopping = asyncio.Event()
        self._committed: deque[Staged] = deque()
        self._poll_all = True  # until a writer uses the fast path
        self._woken = False

    def wake(self) -> None:
        """Rows were committed that nobody hands over: poll for them now."""
        self._woken = True
        self.wakeup.set()

    def publish_committed(self, staged: Staged) -> None:
        """Hand over ``stage``d rows whose transaction has committed (call right after the commit)."""
        if staged.ids:
            self._committed.append(staged)
            self._poll_all = False
            self.wakeup.set()

    def stop(self) -> None:
        self.stopping.set()
        self.wakeup.set()

    async def run(self) -> None:
        idle_s = self.POLL_S
        while not self.stopping.is_set():
            try:
                if self._committed:
                    await self.publish_handed_over()
                    continue
                woken, self._woken = self._woken, False
                sent = await self.relay_once(fresh=woken or self._poll_all)
            except Exception:
                log.exception("outbox relay failed; retrying")
                sent = 0
                await asyncio.sleep(1.0)
            if sent or self._committed or self._woken:
                idle_s = self.POLL_S
            if sent < self.batch and not self._committed and not self._woken:
                # Idle: sleep until a local commit wakes us, or poll for other replicas' rows (and
                # crash leftovers), less often the longer nothing comes: an idle poll costs a
                # pooled connection and four round trips.
                self.wakeup.clear()
                try:
                    await asyncio.wait_for(self.wakeup.wait(), timeout=idle_s)
                except TimeoutError:
                    idle_s = min(self.MAX_POLL_S, idle_s * 2)
        if self._committed:
            await self.publish_handed_over()
        await self.relay_once()

    async def publish_handed_over(self, limit: int = 20_000) -> int:
        """Claim and publish the handed-over rows (several commits' worth at once under load)."""
        staged = Staged()
        while self._committed and len(staged.ids) < limit:
            batch = self._committed.popleft()
            staged.add(batch.ids, batch.messages)
        async with self.engine.connect() as conn:
            raw = await driver_connection(conn)
            async with raw.transaction():
                claimed = await raw.fetchval(
                    f'WITH claimed AS (DELETE FROM "{self.schema}".outbox WHERE id = ANY($1::bigint[]) '
                    "RETURNING id) SELECT array_agg(id) FROM claimed",
                    staged.ids,
                )
                if not claimed:
                    return 0
                messages = staged.messages
                if len(claimed) < len(staged.ids):  # the poller got some first (or they never committed)
                    mine = set(claimed)
                    messages = [m for i, m in zip(staged.ids, messages, strict=True) if i in mine]
                try:
                    await publish_messages(self.producer, messages)
                except Exception:
                    self.wake()  # rolled back: the poller publishes them now, setting aside what fails
                    raise
        _count(m.topic for m in messages)
        return len(messages)

    async def relay_once(self, *, fresh: bool = True) -> int:
        """Publish up to ``batch`` rows in id order; with ``fresh=False`` only rows older than the
        fast path's grace (crash leftovers)."""
        age = (
            "" if fresh else f" WHERE created_at < now() - interval '{float(self.fast_path_grace_s)} seconds'"
        )
        async with self.engine.connect() as conn:
            raw = await driver_connection(conn)
            async with raw.transaction():
                rows = await raw.fetch(
                    f'SELECT id, topic, key, value, headers FROM "{self.schema}".outbox{age} '
                    "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                    self.batch,
                )
                if not rows:
                    return 0
                messages = [_message(r) for r in rows]
                refused = await publish_setting_aside(self.producer, messages)
                await deadletter.store(
                    conn,
                    schema=self.schema,
                    letters=[set_aside(messages[i], why, row_id=rows[i]["id"]) for i, why in refused],
                )
                await raw.execute(
                    f'DELETE FROM "{self.schema}".outbox WHERE id = ANY($1::bigint[])',
                    [r["id"] for r in rows],
                )
                _count(r["topic"] for r in rows)
                return len(rows)


def _count(topics: Any) -> None:
    per_topic: dict[str, int] = {}
    for topic in topics:
        per_topic[topic] = per_topic.get(topic, 0) + 1
    for topic, n in per_topic.items():
        RELAYED.labels(topic).inc(n)


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (the default partitioner's hash), a word at a time."""
    length = len(data)
    m = 0x5BD1E995
    h = 0x9747B28C ^ length
    whole = length & ~3
    for (k,) in struct.iter_unpack("<I", data[:whole]):
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        h = ((h * m) & 0xFFFFFFFF) ^ ((k * m) & 0xFFFFFFFF)
    extra = length & 3
    if extra >= 3:
        h ^= data[whole + 2] << 16
    if extra >= 2:
        h ^= data[whole + 1] << 8
    if extra:
        h = ((h ^ data[whole]) * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    return h ^ (h >> 15)


@functools.lru_cache(maxsize=65536)
def _partition_for(key: bytes, partitions: tuple[int, ...]) -> int:
    """The default partitioner's choice for ``key`` (Java client compatible)."""
    return partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]


def _message(row: Mapping[str, Any]) -> OutboxMessage:
    return OutboxMessage(row["topic"], row["value"], row["key"], _load(row["headers"]) or {})


async def publish_batches(producer: AIOKafkaProducer, rows: Sequence[Mapping[str, Any]]) -> None:
    """Send outbox rows (mappings with topic, key, value, headers); see ``publish_messages``."""
    await publish_messages(producer, [_message(r) for r in rows])


async def publish_setting_aside(
    producer: AIOKafkaProducer, messages: Sequence[OutboxMessage]
) -> list[tuple[int, str]]:
    """``publish_messages``; when the broker refuses some for good, the others are still published,
    and the positions of the refused ones are returned with the reasons. Raises on a transient
    failure (nothing is set aside then)."""
    try:
        await publish_messages(producer, messages)
        return []
    except Exception as exc:
        if is_transient(exc):
            raise
        log.warning("the broker refused a batch; publishing it message by message", exc_info=True)
    refused = []
    for position, message in enumerate(messages):
        try:
            await publish_messages(producer, [message])
        except Exception as exc:
            if is_transient(exc):
                raise
            refused.append((position, describe_exception(exc)))
    return refused


def set_aside(message: OutboxMessage, reason: str, *, row_id: int, relay: str = "outbox-relay") -> DeadLetter:
    """A message the broker refused for good, as a dead letter (the row id as its offset)."""
    log.error("message set aside", extra={"topic": message.topic, "row": row_id, "error": reason})
    return DeadLetter(
        source=message.topic, raw=message.value, error=reason, consumer=relay, key=message.key, offset=row_id
    )


async def publish_messages(producer: AIOKafkaProducer, messages: Sequence[OutboxMessage]) -> None:
    """Send messages as per-partition record batches, far cheaper in Python than one send() per
    message; keys pick partitions exactly as the default partitioner does, so per-key order holds.
    Returns when the broker has acknowledged all.

    A message over the producer's ``max_request_size`` raises ``MessageSizeTooLargeError`` before
    anything is sent, as ``send()`` would (``send_batch`` does not check), so that such a message
    is refused alike whatever the broker's own limit (the embedded broker has none)."""
    limit = producer._max_request_size
    for message in messages:
        size = (
            len(message.value)
            + len(message.key or b"")
            + sum(len(k) + len(v) for k, v in message.headers.items())
        )
        if size > limit:
            raise MessageSizeTooLargeError(
                f"{message.topic}: a {size}-byte message is over the {limit}-byte limit"
            )
    partitions_of: dict[str, tuple[int, ...]] = {}
    builders: dict[tuple[str, int], Any] = {}
    futures = []
    for n, message in enumerate(messages, 1):
        if n % 500 == 0:
            await asyncio.sleep(0)  # a long batch: let the consumer's round trips through meanwhile
        topic, key, value = message.topic, message.key, message.value
        partitions = partitions_of.get(topic)
        if partitions is None:
            await producer.client._wait_on_metadata(topic)
            partitions = tuple(sorted(producer.client.cluster.partitions_for_topic(topic) or ()))
            partitions_of[topic] = partitions
        partition = _partition_for(key, partitions) if key is not None else random.choice(partitions)
        headers = [(k, v.encode()) for k, v in message.headers.items()] if message.headers else []
        slot = (topic, partition)
        builder = builders.get(slot)
        if builder is None:
            builder = builders[slot] = producer.create_batch()
        if builder.append(timestamp=None, key=key, value=value, headers=headers) is None:
            # Full: send it and start the next batch for this partition with this record.
            futures.append(await producer.send_batch(builder, topic, partition=partition))
            builder = builders[slot] = producer.create_batch()
            builder.append(timestamp=None, key=key, value=value, headers=headers)
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
