"""The consumer runner against the real broker: a batch prepared while the one before it fails for
good is handed back to ``discard`` (its preparer may hold a database transaction open), and offsets
that a rebalance took away do not stop the consumer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import IllegalStateError

from qzx_common.kafka.runner import ConsumerRunner
from qzx_dev.testing import Stack

pytestmark = [pytest.mark.kafka]


async def topic_holding(stack: Stack, *values: bytes) -> str:
    """A new one-partition topic holding ``values`` in order."""
    topic = f"{stack.topic_prefix}runner-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap)
    await producer.start()
    for value in values:
        await producer.send_and_wait(topic, value)
    await producer.stop()
    return topic


async def test_a_prepared_batch_is_discarded_when_the_one_before_fails_while_stopping(stack: Stack) -> None:
    topic = await topic_holding(stack, b"1", b"2")

    second_prepared = asyncio.Event()
    discarded: list[bytes] = []

    def prepare(records: Sequence[ConsumerRecord]) -> bytes:
        value: bytes = records[0].value
        if value == b"2":
            second_prepared.set()
        return value

    async def handle(value: bytes) -> None:
        await second_prepared.wait()  # "2" is prepared, not yet handed over
        runner.stop()
        raise RuntimeError("the database went away")

    async def discard(value: bytes) -> None:
        discarded.append(value)

    runner = ConsumerRunner(
        bootstrap=stack.bootstrap,
        topics=[topic],
        group_id=f"{topic}-group",
        handle=handle,
        prepare=prepare,
        discard=discard,
        max_records=1,
    )
    await runner.start()
    with pytest.raises(RuntimeError, match="went away"):
        await asyncio.wait_for(runner.run(), timeout=30)
    assert discarded == [b"2"]


async def test_offsets_a_rebalance_took_away_are_left_to_the_new_owner(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch prepared before its partitions were revoked is applied after; its offsets can then
    not be committed (the new owner resumes from the last commit and applies it again, harmlessly),
    and the consumer goes on."""
    topic = await topic_holding(stack, b"1", b"2")

    handled: list[bytes] = []

    async def handle(records: Sequence[ConsumerRecord]) -> None:
        handled.append(records[0].value)
        if len(handled) == 2:
            runner.stop()

    runner = ConsumerRunner(
        bootstrap=stack.bootstrap, topics=[topic], group_id=f"{topic}-group", handle=handle, max_records=1
    )
    await runner.start()
    commit = runner.consumer.commit
    refused: list[object] = []

    async def commit_once_refused(offsets: object) -> None:
        if not refused:  # as aiokafka answers for a partition no longer assigned
            refused.append(offsets)
            raise IllegalStateError("partition not assigned")
        await commit(offsets)

    monkeypatch.setattr(runner.consumer, "commit", commit_once_refused)
    await asyncio.wait_for(runner.run(), timeout=30)
    assert handled == [b"1", b"2"] and len(refused) == 1
