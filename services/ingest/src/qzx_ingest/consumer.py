"""Camera topic → validate (``prepare``, overlapping the previous batch's I/O) → store in one
transaction → the runner commits the offsets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from aiokafka import ConsumerRecord

from qzx_common.runtime import Runtime
from qzx_ingest.violations.service import PreparedBatch, RawMessage, prepare_batch, store_batch

GROUP = "qzx-ingest"


def prepare_records(records: Sequence[ConsumerRecord]) -> PreparedBatch:
    return prepare_batch([RawMessage(r.value, r.key, r.topic, r.partition, r.offset) for r in records])


def camera_handler(rt: Runtime) -> Callable[[PreparedBatch], Awaitable[None]]:
    async def handle(batch: PreparedBatch) -> None:
        async with rt.engine.begin() as conn:
            await store_batch(conn, batch=batch, source="camera", topic_prefix=rt.settings.topic_prefix)
        rt.relay.wake()

    return handle
