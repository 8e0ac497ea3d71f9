"""Dead letters: what a service could not apply, or a relay could not publish, kept with the reason.

Every service has a ``dead_letters`` table in its schema (``dead_letters_table``; the migration
step is ``create_dead_letters_table``). A consumer's dead letter is also sent, raw, to
``<input topic>.dlq`` with the contract's headers (``kafka.dlq``, through the outbox, in the same
transaction as the row); a relay's (a row the broker refuses, say over its message size) stays in
the table only, since publishing it again would fail again.

Identity: a redelivered record must not be stored twice, but a broker position alone is no identity
(the embedded broker keeps nothing across a restart, and a recreated topic starts again at offset
0): a record is the same one when its topic, partition, offset, broker timestamp and the digest of
its key and value all agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from qzx_common.db import driver_connection
from qzx_common.reasons import clean_reason

IDENTITY = ("source", "source_partition", "source_offset", "source_timestamp", "digest")


@dataclass(slots=True)
class DeadLetter:
    """What could not be applied (``raw`` byte for byte) and why.

    ``source`` is the topic it came from (without the topic prefix; ``exchange:<key id>`` for an
    exchange item, the target topic for a relay's row); ``consumer`` the group or relay that gave
    up on it. Partition, offset and timestamp are the broker's (the relay's row id as the offset)."""

    source: str
    raw: bytes
    error: str
    consumer: str
    key: bytes | None = None
    partition: int | None = None
    offset: int | None = None
    timestamp: int | None = None

    def __post_init__(self) -> None:
        self.error = clean_reason(self.error)  # stored in a text column and sent as a header

    @classmethod
    def of_record(cls, record: Any, error: str, *, consumer: str, topic_prefix: str) -> DeadLetter:
        """The dead letter of a consumed record (an aiokafka ``ConsumerRecord``, or anything with
        its ``topic``, ``partition``, ``offset``, ``timestamp``, ``key`` and ``value``)."""
        return cls(
            source=(record.topic or "").removeprefix(topic_prefix),
            raw=record.value or b"",
            error=error,
            consumer=consumer,
            key=record.key,
            partition=record.partition,
            offset=record.offset,
            timestamp=record.timestamp,
        )

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(len(self.key or b"").to_bytes(4, "big") + (self.key or b"") + self.raw).digest()


def dead_letters_table(metadata: MetaData) -> Table:
    return Table(
        "dead_letters",
        metadata,
        *_columns(),
        *_replay_columns(),
        Index("uq_dead_letters_identity", *IDENTITY, unique=True),
        Index("ix_dead_letters_received_at", "received_at"),
    )


def _columns() -> list[Column[Any]]:
    return [
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("source", String(200), nullable=False),
        Column("source_partition", Integer),
        Column("source_offset", BigInteger),
        Column("source_timestamp", BigInteger),
        Column("digest", LargeBinary),
        Column("consumer", String(200)),
        Column("key", LargeBinary),
        Column("raw", LargeBinary, nullable=False),
        Column("error", Text, nullable=False),
        Column("received_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    ]


def _replay_columns() -> list[Column[Any]]:
    """Written by ``qzx dlq replay`` (``qzx_common.replay``): when a letter was last sent back to its
    source topic and how often; a later replay skips it unless forced."""
    return [
        Column("replayed_at", DateTime(timezone=True)),
        Column("replays", Integer, server_default="0", nullable=False),
    ]


def create_dead_letters_table(schema: str) -> None:
    """Migration step for a service chain (call from an Alembic revision)."""
    from alembic import op

    op.create_table("dead_letters", *_columns(), schema=schema)
    op.create_index("uq_dead_letters_identity", "dead_letters", list(IDENTITY), unique=True, schema=schema)
    op.create_index("ix_dead_letters_received_at", "dead_letters", ["received_at"], schema=schema)


def add_replay_columns(schema: str) -> None:
    """Migration step after ``create_dead_letters_table``: the replay columns."""
    from alembic import op

    for column in _replay_columns():
        op.add_column("dead_letters", column, schema=schema)


def _insert_sql(schema: str) -> str:
    return f"""
    INSERT INTO "{schema}".dead_letters
        (source, source_partition, source_offset, source_timestamp, digest, consumer, key, raw, error)
    SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $5::bytea[], $6::text[],
                         $7::bytea[], $8::bytea[], $9::text[])
    ON CONFLICT ({", ".join(IDENTITY)}) DO NOTHING
    RETURNING source, source_partition, source_offset, source_timestamp, digest
    """


async def store(conn: AsyncConnection, *, schema: str, letters: Sequence[DeadLetter]) -> list[DeadLetter]:
    """Store ``letters`` once each (see the module's identity) in the caller's transaction; returns
    those stored just now. Letters without a broker position are always new."""
    if not letters:
        return []
    driver = await driver_connection(conn)
    digests = [letter.digest for letter in letters]
    rows = await driver.fetch(
        _insert_sql(schema),
        [x.source for x in letters],
        [x.partition for x in letters],
        [x.offset for x in letters],
        [x.timestamp for x in letters],
        digests,
        [x.consumer for x in letters],
        [x.key for x in letters],
        [x.raw for x in letters],
        [x.error for x in letters],
    )
    fresh = {tuple(r) for r in rows}
    return [
        x
        for x, d in zip(letters, digests, strict=True)
        if x.offset is None or (x.source, x.partition, x.offset, x.timestamp, d) in fresh
    ]


@dataclass(slots=True)
class StoredDeadLetter:
    id: int
    source: str
    partition: int | None
    offset: int | None
    consumer: str | None
    key: bytes | None
    raw: bytes
    error: str
    received_at: datetime


async def search(
    session: AsyncSession, *, table: Table, after_id: int | None, limit: int
) -> list[StoredDeadLetter]:
    """Newest first, keyset-paged on the id."""
    c = table.c
    q = select(
        c.id, c.source, c.source_partition, c.source_offset, c.consumer, c.key, c.raw, c.error, c.received_at
    )
    if after_id is not None:
        q = q.where(c.id < after_id)
    rows = (await session.execute(q.order_by(c.id.desc()).limit(limit))).all()
    return [StoredDeadLetter(*row) for row in rows]
