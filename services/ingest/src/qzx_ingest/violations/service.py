"""The ingest pipeline: validate, deduplicate, store once, dead-letter the bad, forward the new.

Camera batches (from Kafka) and exchange batches (from HTTP) go through ``apply_batch``; the caller
owns the transaction, so the rows, the dead letters and the outbox messages commit together.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from qzx_common.contracts.event_reader import AcceptedEvent, read_event
from qzx_common.contracts.events import describe_error, find_nul
from qzx_common.kafka.outbox import OutboxMessage, Staged, stage
from qzx_common.topics import (
    CAMERA_VIOLATIONS_DLQ,
    HEADER_ERROR,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_TOPIC,
    VIOLATIONS_ACCEPTED,
)
from qzx_ingest.db import SCHEMA
from qzx_ingest.dlq import repository as dlq_repository
from qzx_ingest.violations import repository

log = logging.getLogger(__name__)

OUTCOMES = Counter("qzx_ingest_events_total", "Events by outcome", ["source", "outcome"])


@dataclass(slots=True)
class RawMessage:
    """One incoming message; ``topic``/``partition``/``offset`` are None for exchange items."""

    value: bytes | None
    key: bytes | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


@dataclass(slots=True)
class Rejection:
    index: int
    error: str


@dataclass
class BatchResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    # The outbox rows written, for OutboxRelay.publish_committed once the transaction has committed.
    staged: Staged = field(default_factory=Staged)


def validate(value: bytes | None) -> AcceptedEvent | str:
    """The event (with its normalised JSON), or the reason it is refused (naming the field)."""
    if value is None:
        return "body: empty message (null value)"
    try:
        event = read_event(value)
    except ValidationError as exc:
        return describe_error(exc)
    if b"\\u0000" in value:  # rare: find which field, once the JSON is known to parse
        return f"{find_nul(orjson.loads(value))}: contains a NUL character (U+0000)"
    return event


@dataclass
class PreparedBatch:
    """A batch after the CPU-bound work: valid events (first of each event_id) and rejects."""

    events: dict[str, AcceptedEvent] = field(default_factory=dict)
    rejects: list[tuple[int, RawMessage, str]] = field(default_factory=list)
    duplicates_in_batch: int = 0

    def add(self, index: int, msg: RawMessage) -> None:
        outcome = validate(msg.value)
        if isinstance(outcome, str):
            self.rejects.append((index, msg, outcome))
        elif outcome.event_id in self.events:
            self.duplicates_in_batch += 1
        else:
            self.events[outcome.event_id] = outcome


def prepare_batch(messages: Sequence[RawMessage]) -> PreparedBatch:
    batch = PreparedBatch()
    for index, msg in enumerate(messages):
        batch.add(index, msg)
    return batch


async def store_batch(
    conn: AsyncConnection,
    *,
    batch: PreparedBatch,
    source: str,
    topic_prefix: str = "",
    dead_letter: bool = True,
) -> BatchResult:
    """Store new events once, dead-letter rejects, and stage what must be published, all in the
    caller's transaction."""
    events = list(batch.events.values())
    keys = [(e.plate or e.device_id).encode() for e in events]
    forward_to = topic_prefix + VIOLATIONS_ACCEPTED
    positions, ids = await repository.insert_new(
        conn, [e.payload for e in events], keys, source=source, forward_to=forward_to
    )
    staged = Staged(ids, [OutboxMessage(forward_to, events[i].payload, keys[i]) for i in positions])
    result = BatchResult(
        accepted=len(positions),
        duplicates=batch.duplicates_in_batch + len(events) - len(positions),
        rejected=[Rejection(index, error) for index, _, error in batch.rejects],
        staged=staged,
    )
    if dead_letter and batch.rejects:
        fresh = await dlq_repository.insert(conn, [(m, e) for _, m, e in batch.rejects], source=source)
        dead = await stage(conn, schema=SCHEMA, messages=[_dead_letter(m, e, topic_prefix) for m, e in fresh])
        staged.add(dead.ids, dead.messages)

    OUTCOMES.labels(source, "accepted").inc(result.accepted)
    OUTCOMES.labels(source, "duplicate").inc(result.duplicates)
    OUTCOMES.labels(source, "rejected").inc(len(result.rejected))
    return result


async def apply_batch(
    conn: AsyncConnection,
    *,
    messages: Sequence[RawMessage],
    source: str,
    topic_prefix: str = "",
    dead_letter: bool = True,
) -> BatchResult:
    """Validate and store ``messages`` in the caller's transaction (exchange pushes, tests)."""
    return await store_batch(
        conn, batch=prepare_batch(messages), source=source, topic_prefix=topic_prefix, dead_letter=dead_letter
    )


def _dead_letter(msg: RawMessage, error: str, topic_prefix: str) -> OutboxMessage:
    source_topic = (msg.topic or "")[len(topic_prefix) :] if msg.topic else ""
    return OutboxMessage(
        topic_prefix + CAMERA_VIOLATIONS_DLQ,
        msg.value or b"",
        key=msg.key,
        headers={
            HEADER_ERROR: error,
            HEADER_SOURCE_TOPIC: source_topic,
            HEADER_SOURCE_OFFSET: str(msg.offset if msg.offset is not None else ""),
        },
    )
