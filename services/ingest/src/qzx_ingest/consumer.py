"""Camera topic → ``apply_batch`` in one transaction → commit offsets (the runner does that)."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord

from qzx_common.runtime import Runtime
from qzx_ingest.violations.service import RawMessage, apply_batch

GROUP = "qzx-ingest"


def camera_handler(rt: Runtime):
    async def handle(records: Sequence[ConsumerRecord]) -> None:
        messages = [RawMessage(r.value, r.key, r.topic, r.partition, r.offset) for r in records]
        async with rt.engine.begin() as conn:
            await apply_batch(conn, messages=messages, source="camera", topic_prefix=rt.settings.topic_prefix)
        rt.relay.wake()

    return handle
