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

from qzx_common.contracts.events import describe_error, find_nul
from qzx_common.kafka.deadletter import DeadLetter
from qzx_common.kafka.dlq import store_and_stage
from qzx_common.kafka.outbox import OutboxMessage, Staged
from qzx_common.reasons import describe_exception
from qzx_common.topics import VIOLATIONS_ACCEPTED
from qzx_common.transient import is_transient
from qzx_ingest.db import SCHEMA
from qzx_ingest.violations import repository
from qzx_ingest.violations.reader import AcceptedEvent, read_event

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
    timestamp: int | None = None


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
    except Exception as exc:  # nothing in a message may stop the pipeline: it is a reason too
        return f"body: {describe_exception(exc)}"
    if b"\\u0000" in value:  # rare: find which field, once the JSON is known to parse
        return f"{find_nul(orjson.loads(value))}: contains a NUL character (U+0000)"
    return event


@dataclass
class PreparedBatch:
    """A batch after the CPU-bound work: valid events (first of each event_id) and rejects."""

    events: dict[str, AcceptedEvent] = field(default_factory=dict)
    rejects: list[tuple[int, RawMessage, str]] = field(default_factory=list)
    duplicates_in_batch: int = 0
    positions: dict[str, int] = field(default_factory=dict)  # event_id → its index in the batch

    def add(self, index: int, msg: RawMessage) -> None:
        outcome = validate(msg.value)
        if isinstance(outcome, str):
            self.rejects.append((index, msg, outcome))
        elif outcome.event_id in self.events:
            self.duplicates_in_batch += 1
        else:
            self.events[outcome.event_id] = outcome
            self.positions[outcome.event_id] = index


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
    consumer: str | None = None,
) -> BatchResult:
    """Store new events once, dead-letter rejects (as ``consumer``; with None they are only
    reported), and stage what must be published, all in the caller's transaction."""
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
    if consumer is not None and batch.rejects:
        letters = [
            DeadLetter.of_record(m, e, consumer=consumer, topic_prefix=topic_prefix)
            for _, m, e in batch.rejects
        ]
        dead = await store_and_stage(conn, schema=SCHEMA, letters=letters, topic_prefix=topic_prefix)
        staged.add(dead.ids, dead.messages)

    OUTCOMES.labels(source, "accepted").inc(result.accepted)
    OUTCOMES.labels(source, "duplicate").inc(result.duplicates)
    OUTCOMES.labels(source, "rejected").inc(len(result.rejected))
    return result


async def apply_batch(
    conn: AsyncConnection, *, messages: Sequence[RawMessage], source: str, topic_prefix: str = ""
) -> BatchResult:
    """Validate and store ``messages`` in the caller's transaction (exchange pushes, tests); rejects
    are reported, not dead-lettered. Should the database refuse the batch, the events are stored one
    at a time, and each it refuses is one more reject: one bad item never costs the others."""
    batch = prepare_batch(messages)
    try:
        async with conn.begin_nested():
            return await store_batch(conn, batch=batch, source=source, topic_prefix=topic_prefix)
    except Exception as exc:
        if is_transient(exc):
            raise
        log.warning("the database refused a batch; storing it event by event", exc_info=True)
    return await _store_one_by_one(conn, batch=batch, source=source, topic_prefix=topic_prefix)


async def _store_one_by_one(
    conn: AsyncConnection, *, batch: PreparedBatch, source: str, topic_prefix: str
) -> BatchResult:
    result = BatchResult(
        duplicates=batch.duplicates_in_batch,
        rejected=[Rejection(index, error) for index, _, error in batch.rejects],
    )
    for event_id, event in batch.events.items():
        single = PreparedBatch(events={event_id: event})
        try:
            async with conn.begin_nested():
                stored = await store_batch(conn, batch=single, source=source, topic_prefix=topic_prefix)
        except Exception as exc:
            if is_transient(exc):
                raise
            result.rejected.append(Rejection(batch.positions[event_id], f"store: {describe_exception(exc)}"))
            continue
        result.accepted += stored.accepted
        result.duplicates += stored.duplicates
        result.staged.add(stored.staged.ids, stored.staged.messages)
    result.rejected.sort(key=lambda r: r.index)
    return result
