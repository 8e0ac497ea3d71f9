"""Rebuilding a partition's last sightings from passages.accepted.v1 itself.

alerts never reads ingest's tables (services never import or query each other), and the topic
holds every passage ingest stored, keyed by plate, in the partitions the state is kept by. A
partition's state is made exact as of the offset the group resumes it from (``Span.until``): from
its snapshot's offset (``snapshot``), or, with no usable snapshot, from the first record within
the clone window (by broker timestamp; from the start where the broker cannot look offsets up by
time). The records replayed were handled before the restart (their findings are stored), so they
are observed and raise nothing; the group then delivers the rest and those are checked.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from qzx_alerts.checkpoints.service import Matcher
from qzx_common.contracts.passage_reader import read_accepted

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Span:
    start: int | None  # the first offset to replay; None: the first within the clone window
    until: int  # replayed up to this offset (not included)


async def replay(
    *, bootstrap: str, topic: str, matcher: Matcher, spans: dict[int, Span], window_s: float
) -> int:
    """Observe the records of each partition's span into ``matcher``'s sightings; returns how many."""
    spans = {p: s for p, s in spans.items() if s.start is None or s.start < s.until}
    if not spans:
        return 0
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    seen = 0
    cutoff = time.time() - window_s
    try:
        tps = {TopicPartition(topic, p): s for p, s in spans.items()}
        consumer.assign(list(tps))
        await _seek(consumer, tps, cutoff_ms=int(cutoff * 1000))
        remaining = {tp for tp, s in tps.items() if await consumer.position(tp) < s.until}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=10_000)
            for tp, records in batches.items():
                until = tps[tp].until
                for r in records:
                    if r.offset >= until or r.value is None:
                        continue
                    try:
                        p = read_accepted(r.value)
                    except (ValueError, KeyError, TypeError):
                        continue  # the live consumer dead-lettered it
                    if p.plate is not None and p.captured_at.timestamp() >= cutoff:
                        matcher.observe(tp.partition, p)
                        seen += 1
            remaining = {tp for tp in remaining if await consumer.position(tp) < tps[tp].until}
    finally:
        await consumer.stop()
    return seen


async def _seek(consumer: AIOKafkaConsumer, tps: dict[TopicPartition, Span], *, cutoff_ms: int) -> None:
    for tp, s in tps.items():
        if s.start is not None:
            consumer.seek(tp, s.start)
    by_time = [tp for tp, s in tps.items() if s.start is None]
    if not by_time:
        return
    try:
        found = await consumer.offsets_for_times({tp: cutoff_ms for tp in by_time})
    except Exception:  # a broker without ListOffsets by time: from the start, filtered by capture time
        log.info("offsets by time unavailable; rebuilding passage state from the start of the topic")
        await consumer.seek_to_beginning(*by_time)
        return
    for tp in by_time:
        at = found.get(tp)
        consumer.seek(tp, at.offset if at is not None else tps[tp].until)  # None: nothing that recent
