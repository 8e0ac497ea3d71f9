"""Camera topic → validate (``prepare``, overlapping the previous batch's I/O) → store in one
transaction → the runner commits the offsets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import ConsumerRecord

from qzx_common.runtime import Runtime
from qzx_common.topics import INGEST_GROUP
from qzx_ingest.violations.service import PreparedBatch, RawMessage, store_batch

GROUP = INGEST_GROUP


# Records validated between two yields to the event loop (about a millisecond of CPU).
SLICE = 50


async def prepare_records(records: Sequence[ConsumerRecord]) -> PreparedBatch:
    """Validate a batch, yielding now and then so that the previous batch's transaction (several
    round trips) and the outbox relay progress meanwhile instead of waiting for the whole batch."""
    batch = PreparedBatch()
    for index, r in enumerate(records, 1):
        batch.add(index - 1, RawMessage(r.value, r.key, r.topic, r.partition, r.offset, r.timestamp))
        if index % SLICE == 0:
            await asyncio.sleep(0)
    return batch


def camera_handler(rt: Runtime) -> Callable[[PreparedBatch], Awaitable[None]]:
    async def handle(batch: PreparedBatch) -> None:
        async with rt.engine.begin() as conn:
            result = await store_batch(
                conn, batch=batch, source="camera", topic_prefix=rt.settings.topic_prefix, consumer=GROUP
            )
        # Committed: forward from memory; the outbox rows are the fallback if this process dies first.
        rt.relay.publish_committed(result.staged)

    return handle
