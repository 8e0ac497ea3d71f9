"""Dead letters on their way out: ``<input topic>.dlq`` with the contract's headers (docs/contract.md),
staged in the outbox in the same transaction as the dead-letter rows (``kafka.deadletter``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from aiokafka import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from qzx_common.kafka.deadletter import DeadLetter, store
from qzx_common.kafka.outbox import OutboxMessage, OutboxRelay, Staged, stage
from qzx_common.topics import (
    HEADER_CONSUMER,
    HEADER_ERROR,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
    dlq_topic,
)


def dlq_message(letter: DeadLetter, *, topic_prefix: str) -> OutboxMessage:
    """``letter`` for ``<source topic>.dlq``: the raw bytes, the key as received, and the headers."""
    return OutboxMessage(
        topic_prefix + dlq_topic(letter.source),
        letter.raw,
        key=letter.key,
        headers={
            HEADER_ERROR: letter.error,
            HEADER_SOURCE_TOPIC: letter.source,
            HEADER_SOURCE_PARTITION: "" if letter.partition is None else str(letter.partition),
            HEADER_SOURCE_OFFSET: "" if letter.offset is None else str(letter.offset),
            HEADER_CONSUMER: letter.consumer,
        },
    )


async def store_and_stage(
    conn: AsyncConnection, *, schema: str, letters: Sequence[DeadLetter], topic_prefix: str
) -> Staged:
    """``store``, then stage the new ones for their dead-letter topic, in the caller's transaction
    (hand the result to ``OutboxRelay.publish_committed`` after the commit)."""
    fresh = await store(conn, schema=schema, letters=letters)
    return await stage(
        conn, schema=schema, messages=[dlq_message(x, topic_prefix=topic_prefix) for x in fresh]
    )


def consumer_sink(
    *, engine: AsyncEngine, schema: str, relay: OutboxRelay, consumer: str, topic_prefix: str
) -> Callable[[Sequence[tuple[ConsumerRecord, str]]], Awaitable[None]]:
    """The consumer runner's ``dead_letter``: store the records (one transaction), then send them
    to their dead-letter topics through the outbox."""

    async def sink(rejected: Sequence[tuple[ConsumerRecord, str]]) -> None:
        letters = [
            DeadLetter.of_record(record, reason, consumer=consumer, topic_prefix=topic_prefix)
            for record, reason in rejected
        ]
        async with engine.begin() as conn:
            staged = await store_and_stage(conn, schema=schema, letters=letters, topic_prefix=topic_prefix)
        relay.publish_committed(staged)

    return sink
