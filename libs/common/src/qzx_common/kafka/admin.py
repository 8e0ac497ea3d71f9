"""Topic creation, idempotent (an existing topic is fine)."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from qzx_common.topics import ALL_TOPICS, PARTITIONS

log = logging.getLogger(__name__)


async def ensure_topics(
    bootstrap: str, *, prefix: str = "", names: tuple[str, ...] = ALL_TOPICS, partitions: int = PARTITIONS
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    for attempt in range(60):
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            if attempt == 59:
                raise
            await asyncio.sleep(0.5)
    try:
        existing = set(await admin.list_topics())
        wanted = [NewTopic(prefix + n, partitions, 1) for n in names if prefix + n not in existing]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
            log.info("created topics", extra={"topics": [t.name for t in wanted]})
    finally:
        await admin.close()
