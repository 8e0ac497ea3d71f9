"""What ``kafka.publish`` relies on in aiokafka: the default partitioner's murmur2 (pinned to the
Java client's published values, so per-key order matches every other Kafka client), and the two
private attributes it reads. An aiokafka upgrade that renames or removes them fails here, not in
production."""

from __future__ import annotations

import inspect

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.client import AIOKafkaClient

from qzx_common.kafka.publish import partition_for

# Signed murmur2 hashes from the Java client's own test (org.apache.kafka.common.utils.UtilsTest).
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("key", "java_hash"), sorted(JAVA_MURMUR2.items()))
def test_keys_pick_the_java_clients_partition(key: bytes, java_hash: int) -> None:
    partitions = tuple(range(7))
    assert partition_for(key, partitions) == (java_hash & 0x7FFFFFFF) % len(partitions)


def test_partitions_are_picked_from_the_topics_own_ids() -> None:
    assert partition_for(b"foobar", (3, 5, 8)) == (3, 5, 8)[(-790332482 & 0x7FFFFFFF) % 3]


async def test_the_private_aiokafka_attributes_used_are_there() -> None:
    wait_on_metadata = AIOKafkaClient._wait_on_metadata
    assert inspect.iscoroutinefunction(wait_on_metadata)
    assert list(inspect.signature(wait_on_metadata).parameters) == ["self", "topic"]
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", max_request_size=12345)
    try:
        assert producer._max_request_size == 12345
        assert isinstance(producer.client, AIOKafkaClient)
    finally:
        await producer.stop()
