"""Rebuilding the plates' last sightings after a start, from passages.accepted.v1 itself.

alerts never reads ingest's tables (services never import or query each other), and the topic
holds every passage ingest stored, keyed by plate, in the partitions the state is kept by. So a
starting matcher reads each partition from the first record within the clone window (by broker
timestamp; from the start where the broker cannot look offsets up by time) to the end it had
when it started, and keeps each plate's last sighting, raising nothing. Records the group then
delivers again (those after its committed offsets) meet their own sighting, which raises nothing.
"""

from __future__ import annotations

import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from qzx_alerts.checkpoints.service import Matcher
from qzx_common.contracts.passage_reader import read_accepted

log = logging.getLogger(__name__)


async def rebuild(*, bootstrap: str, topic: str, matcher: Matcher, window_s: float) -> int:
    """Replay the last ``window_s`` of ``topic`` into ``matcher``'s sightings; returns the count."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    seen = 0
    try:
        await consumer.topics()  # the metadata that names the partitions
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return 0
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        cutoff = time.time() - window_s
        await _seek_to(consumer, tps, cutoff_ms=int(cutoff * 1000), ends=ends)
        remaining = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=10_000)
            for tp, records in batches.items():
                for r in records:
                    if r.offset >= ends[tp] or r.value is None:
                        continue
                    try:
                        p = read_accepted(r.value)
                    except (ValueError, KeyError, TypeError):
                        continue  # the live consumer dead-letters it
                    if p.plate is not None and p.captured_at.timestamp() >= cutoff:
                        matcher.observe(tp.partition, p)
                        seen += 1
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return seen


async def _seek_to(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], *, cutoff_ms: int, ends: dict[TopicPartition, int]
) -> None:
    try:
        found = await consumer.offsets_for_times({tp: cutoff_ms for tp in tps})
    except Exception:  # a broker without ListOffsets by time: from the start, filtered by capture time
        log.info("offsets by time unavailable; rebuilding passage state from the start of the topic")
        await consumer.seek_to_beginning(*tps)
        return
    for tp in tps:
        at = found.get(tp)
        consumer.seek(tp, at.offset if at is not None else ends[tp])  # None: nothing that recent
