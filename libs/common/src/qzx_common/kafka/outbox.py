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

Publishing itself (per-partition record batches, setting aside what the broker refuses) is
``kafka.publish``.

A row the broker refuses for good (over its message size, say) must not hold up the rows after it:
the poller publishes the others and sets it aside in the service's dead letters with the reason
(``publish_setting_aside``); a transient failure (the broker away) is retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import SchemaItem

from qzx_common.db import driver_connection
from qzx_common.kafka import deadletter
from qzx_common.kafka.publish import OutboxMessage, publish_messages, publish_setting_aside, set_aside
from qzx_common.tracing import traced

log = logging.getLogger(__name__)

RELAYED = Counter("qzx_outbox_relayed_total", "Outbox rows published to Kafka", ["topic"])


def outbox_table(metadata: MetaData) -> Table:
    return Table("outbox", metadata, *_outbox_schema())


def _outbox_schema() -> list[SchemaItem]:
    """The outbox's columns and key, for ``outbox_table`` and the migration step alike."""
    return [
        Column("id", BigInteger, Identity()),
        Column("topic", String(200), nullable=False),
        Column("key", LargeBinary, nullable=True),
        Column("value", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=True),
        Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
        PrimaryKeyConstraint("id", name="pk_outbox"),
    ]


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


def _message(row: Mapping[str, Any]) -> OutboxMessage:
    return OutboxMessage(row["topic"], row["value"], row["key"], _load(row["headers"]) or {})


def _load(value: object) -> dict[str, str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return orjson.loads(value)
    return value  # type: ignore[return-value]


def create_outbox_table(schema: str) -> None:
    """Migration step shared by every service chain (call from an Alembic revision)."""
    from alembic import op

    op.create_table("outbox", *_outbox_schema(), schema=schema)
