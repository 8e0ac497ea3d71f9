"""The consumer runner against the real broker: a batch prepared while the one before it fails for
good is handed back to ``discard`` (its preparer may hold a database transaction open)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from qzx_common.kafka.runner import ConsumerRunner
from qzx_dev.testing import Stack

pytestmark = [pytest.mark.kafka]


async def test_a_prepared_batch_is_discarded_when_the_one_before_fails_while_stopping(stack: Stack) -> None:
    topic = f"{stack.topic_prefix}runner-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap)
    await producer.start()
    await producer.send_and_wait(topic, b"1")
    await producer.send_and_wait(topic, b"2")
    await producer.stop()

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
