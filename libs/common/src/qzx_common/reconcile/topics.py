"""Reading a deployment's topics for reconciliation: a topic from its start to its end when the
read began (nothing that arrives later), and the consumer groups' lag.

The end is the high watermark of a fetch response, not ListOffsets: the embedded broker (Tansu
0.6) answers ListOffsets(latest) with the base offset of a partition's last batch, short of the
end by up to a batch (1,500 records in 4 partitions read back 1,478 that way), while its fetch
responses carry the right high watermark, as Kafka's do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition


@dataclass(frozen=True, slots=True)
class Lag:
    group: str
    topic: str
    partition: int
    committed: int  # -1: nothing committed yet
    end: int

    @property
    def behind(self) -> int:
        return self.end - max(self.committed, 0)


def _consumer(bootstrap: str, group: str | None = None) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    if topic not in await consumer.topics():  # refreshes the metadata
        return []
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


async def high_watermarks(
    consumer: AIOKafkaConsumer, parts: Sequence[TopicPartition], *, timeout_s: float = 30.0
) -> dict[TopicPartition, int]:
    """Each partition's end from a fetch (the consumer is assigned ``parts`` afterwards, positioned
    at their start)."""
    consumer.assign(list(parts))
    await consumer.seek_to_beginning(*parts)
    ends: dict[TopicPartition, int] = {}
    async with asyncio.timeout(timeout_s):
        while len(ends) < len(parts):
            await consumer.getmany(*parts, timeout_ms=200, max_records=1)
            ends |= {tp: hw for tp in parts if (hw := consumer.highwater(tp)) is not None and tp not in ends}
    await consumer.seek_to_beginning(*parts)
    return ends


async def read_range(
    bootstrap: str, topic: str, *, timeout_s: float = 300.0, chunk: int = 5000
) -> AsyncIterator[Sequence[ConsumerRecord]]:
    """Every record of ``topic`` up to its end offsets at the start, in chunks of about ``chunk``.
    A topic that does not exist reads as empty; a read that takes longer than ``timeout_s`` fails."""
    consumer = _consumer(bootstrap)
    await consumer.start()
    try:
        parts = await _partitions(consumer, topic)
        if not parts:
            return
        ends = await high_watermarks(consumer, parts, timeout_s=timeout_s)
        todo = {tp for tp in parts if ends[tp] > 0}
        async with asyncio.timeout(timeout_s):
            while todo:
                batches = await consumer.getmany(*todo, timeout_ms=500, max_records=chunk)
                out: list[ConsumerRecord] = []
                for tp, records in batches.items():
                    out.extend(r for r in records if r.offset < ends[tp])
                for tp in list(todo):
                    if await consumer.position(tp) >= ends[tp]:
                        todo.discard(tp)
                if out:
                    yield out
    finally:
        await consumer.stop()


async def group_lag(bootstrap: str, groups: dict[str, str]) -> list[Lag]:
    """Committed offset and end of each partition of each group's topic (``{group: topic}``,
    both as the broker names them). A group reads without joining: nothing is disturbed."""
    lags: list[Lag] = []
    for group, topic in groups.items():
        consumer = _consumer(bootstrap, group)
        await consumer.start()
        try:
            parts = await _partitions(consumer, topic)
            ends = await high_watermarks(consumer, parts) if parts else {}
            for tp in parts:
                committed = await consumer.committed(tp)
                lags.append(Lag(group, topic, tp.partition, -1 if committed is None else committed, ends[tp]))
        finally:
            await consumer.stop()
    return lags
