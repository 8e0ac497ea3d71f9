"""camera.passages.v1 → validate (``prepare``) → store in one transaction → the runner commits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import ConsumerRecord

from qzx_common.kafka.runner import ConsumerRunner
from qzx_common.runtime import Runtime
from qzx_common.topics import CAMERA_PASSAGES, INGEST_PASSAGES_GROUP
from qzx_ingest.passages import service
from qzx_ingest.passages.service import KnownPartitions, PreparedPassages
from qzx_ingest.settings import IngestSettings

GROUP = INGEST_PASSAGES_GROUP


def preparer(settings: IngestSettings) -> Callable[[Sequence[ConsumerRecord]], Awaitable[PreparedPassages]]:
    async def prepare(records: Sequence[ConsumerRecord]) -> PreparedPassages:
        return await service.prepare(records, retention_days=settings.passage_retention_days)

    return prepare


def handler(rt: Runtime) -> Callable[[PreparedPassages], Awaitable[None]]:
    partitions = KnownPartitions()

    async def store(batch: PreparedPassages) -> service.StoreResult:
        if missing := partitions.missing(batch):
            async with rt.engine.begin() as conn:
                await partitions.add(conn, missing)
        async with rt.engine.begin() as conn:
            return await service.store_batch(
                conn, batch=batch, consumer=GROUP, topic_prefix=rt.settings.topic_prefix
            )

    async def handle(batch: PreparedPassages) -> None:
        try:
            result = await store(batch)
        except Exception as exc:
            if not service.is_missing_partition(exc):
                raise
            # A day dropped since it was last read (by hand, or a replica with a shorter
            # retention): read the catalog again, create it, store the batch once more.
            partitions.forget()
            result = await store(batch)
        rt.relay.publish_committed(result.staged)

    return handle


async def start(rt: Runtime, settings: IngestSettings) -> ConsumerRunner:
    """Partitions for today and the days around it before the first batch, then the consumer and
    the daily upkeep beside it."""
    async with rt.engine.begin() as conn:
        await service.keep_partitions(
            conn, retention_days=settings.passage_retention_days, ahead_days=settings.passage_partitions_ahead
        )
    stop = asyncio.Event()
    rt.run_beside(
        service.maintain(
            rt.engine,
            retention_days=settings.passage_retention_days,
            ahead_days=settings.passage_partitions_ahead,
            interval_s=settings.passage_maintenance_interval_s,
            stop=stop,
        ),
        name="passage-partitions",
        stop=stop.set,
    )
    return rt.consume(topics=[CAMERA_PASSAGES], group=GROUP, handle=handler(rt), prepare=preparer(settings))
