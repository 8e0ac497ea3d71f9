"""The ingest pipeline: validate, deduplicate, store once, dead-letter the bad, forward the new.

Camera batches (from Kafka) and exchange batches (from HTTP) go through ``apply_batch``; the caller
owns the transaction, so the rows, the dead letters and the outbox messages commit together.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from qzx_common.contracts.events import ViolationEvent, describe_error
from qzx_common.kafka.outbox import OutboxMessage, enqueue
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


def validate(value: bytes | None) -> ViolationEvent | str:
    """The event, or the reason it is refused (naming the field)."""
    if value is None:
        return "body: empty message (null value)"
    try:
        return ViolationEvent.model_validate_json(value)
    except ValidationError as exc:
        return describe_error(exc)


def normalised_json(event: ViolationEvent) -> bytes:
    return event.model_dump_json(exclude_none=True).encode()


async def apply_batch(
    conn: AsyncConnection,
    *,
    messages: Sequence[RawMessage],
    source: str,
    topic_prefix: str = "",
    dead_letter: bool = True,
) -> BatchResult:
    result = BatchResult()
    seen: dict[str, tuple[ViolationEvent, bytes]] = {}
    rejects: list[tuple[RawMessage, str]] = []
    for index, msg in enumerate(messages):
        outcome = validate(msg.value)
        if isinstance(outcome, str):
            result.rejected.append(Rejection(index, outcome))
            rejects.append((msg, outcome))
        elif outcome.event_id in seen:
            result.duplicates += 1
        else:
            seen[outcome.event_id] = (outcome, normalised_json(outcome))

    new_ids = await repository.insert_new(conn, list(seen.values()), source=source)
    result.accepted = len(new_ids)
    result.duplicates += len(seen) - len(new_ids)

    outbox = [
        OutboxMessage(
            topic_prefix + VIOLATIONS_ACCEPTED, payload, key=(event.plate or event.device_id).encode()
        )
        for event, payload in seen.values()
        if event.event_id in new_ids
    ]
    if dead_letter and rejects:
        fresh = await dlq_repository.insert(conn, rejects, source=source)
        outbox += [_dead_letter(msg, error, topic_prefix) for msg, error in fresh]
    await enqueue(conn, schema=SCHEMA, messages=outbox)

    OUTCOMES.labels(source, "accepted").inc(result.accepted)
    OUTCOMES.labels(source, "duplicate").inc(result.duplicates)
    OUTCOMES.labels(source, "rejected").inc(len(result.rejected))
    return result


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
