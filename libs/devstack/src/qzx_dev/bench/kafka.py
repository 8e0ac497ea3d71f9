"""Raw Kafka baselines the benchmarks print their figures beside."""

from __future__ import annotations

import time
import uuid

from aiokafka import AIOKafkaConsumer


async def raw_consume(bootstrap: str, topic: str, total: int) -> float:
    """Messages per second aiokafka fetches the whole ``total``-message topic at. The clock starts
    when the first fetch returns (group join and the first fetch left out); fetches are capped at a
    twentieth of the topic, so even a small topic is timed over many fetches."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    per_fetch = max(100, min(10_000, total // 20))
    try:
        seen, timed, started = 0, 0, 0.0
        while seen < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=per_fetch)
            got = sum(len(rs) for rs in batches.values())
            if got and not seen:
                started = time.perf_counter()
            elif got:
                timed += got
            seen += got
        return timed / (time.perf_counter() - started)
    finally:
        await consumer.stop()
