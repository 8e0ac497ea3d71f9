"""accidents.reported.v1 → validate (``prepare``) → store in one transaction → the runner commits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from aiokafka import ConsumerRecord

from qzx_common.kafka.runner import ConsumerRunner
from qzx_common.runtime import Runtime
from qzx_common.topics import ACCIDENTS_REPORTED, INGEST_ACCIDENTS_GROUP
from qzx_ingest.accidents import service
from qzx_ingest.accidents.service import PreparedAccidents

GROUP = INGEST_ACCIDENTS_GROUP
REPORTER = "topic"


async def prepare(records: Sequence[ConsumerRecord]) -> PreparedAccidents:
    batch = PreparedAccidents()
    for index, record in enumerate(records):
        batch.add(index, record.value, record)
    return batch


def handler(rt: Runtime) -> Callable[[PreparedAccidents], Awaitable[None]]:
    async def handle(batch: PreparedAccidents) -> None:
        async with rt.engine.begin() as conn:
            result = await service.store_reports(
                conn, batch=batch, reporter=REPORTER, topic_prefix=rt.settings.topic_prefix, consumer=GROUP
            )
        rt.relay.publish_committed(result.staged)

    return handle


def start(rt: Runtime) -> ConsumerRunner:
    return rt.consume(topics=[ACCIDENTS_REPORTED], group=GROUP, handle=handler(rt), prepare=prepare)
