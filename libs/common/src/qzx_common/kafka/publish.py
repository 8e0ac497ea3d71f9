"""Publishing to Kafka as per-partition record batches: what the outbox relay, the log relay and
the dead-letter path send through. Keys pick partitions with aiokafka's own default partitioner, so
per-key order is the same as ``send()``'s.

Two of aiokafka's private attributes are used (``AIOKafkaClient._wait_on_metadata`` for a topic's
partitions, ``AIOKafkaProducer._max_request_size`` for the size check ``send()`` makes);
``tests/test_publish.py`` pins both, so an aiokafka upgrade that drops them fails there first.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner

from qzx_common.kafka.deadletter import DeadLetter
from qzx_common.reasons import describe_exception
from qzx_common.transient import is_transient

log = logging.getLogger(__name__)

_default_partitioner = DefaultPartitioner()


@dataclass(slots=True)
class OutboxMessage:
    topic: str
    value: bytes
    key: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


@functools.lru_cache(maxsize=65536)
def partition_for(key: bytes, partitions: tuple[int, ...]) -> int:
    """The default partitioner's choice for ``key`` among the topic's sorted partitions (Java
    client compatible); cached, since aiokafka's murmur2 is pure Python a byte at a time."""
    partition: int = _default_partitioner(key, list(partitions), [])
    return partition


async def topic_partitions(producer: AIOKafkaProducer, topic: str) -> tuple[int, ...]:
    """The topic's partitions, sorted, once the producer has its metadata (as ``send()`` waits)."""
    await producer.client._wait_on_metadata(topic)
    return tuple(sorted(producer.client.cluster.partitions_for_topic(topic) or ()))


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
            partitions = partitions_of[topic] = await topic_partitions(producer, topic)
        partition = partition_for(key, partitions) if key is not None else random.choice(partitions)
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
