"""Passages: validate, store once in the day's partition, dead-letter the bad; keep the partitions.

The consumer validates a batch (``prepare``, overlapping the previous batch's I/O) and stores it
with ``store_batch`` in one transaction, with the dead letters of its rejects, which then go to
``camera.passages.v1.dlq`` through the outbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiokafka import ConsumerRecord
from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from qzx_common.contracts.events import describe_error
from qzx_common.contracts.passage_reader import PassageRow, passage_json, read_passage
from qzx_common.kafka.deadletter import DeadLetter
from qzx_common.kafka.dlq import store_and_stage
from qzx_common.kafka.outbox import OutboxMessage, Staged, stage
from qzx_common.reasons import describe_exception
from qzx_common.topics import PASSAGES_ACCEPTED
from qzx_ingest.db import SCHEMA
from qzx_ingest.passages import repository

log = logging.getLogger(__name__)

OUTCOMES = Counter("qzx_ingest_passages_total", "Passages by outcome", ["outcome"])
ZONE = ZoneInfo(repository.PARTITION_TZ)
# Records validated between two yields to the event loop (about half a millisecond of CPU).
SLICE = 100


def today() -> date:
    return datetime.now(ZONE).date()


def oldest_kept(*, retention_days: int, on: date | None = None) -> datetime:
    """The first instant a retention of ``retention_days`` keeps: midnight of the oldest day."""
    first = (on or today()) - timedelta(days=retention_days)
    return datetime.combine(first, time(), ZONE)


def validate(value: bytes | None, *, oldest: datetime) -> PassageRow | str:
    """The passage, or the reason it is refused (naming the field)."""
    if value is None:
        return "body: empty message (null value)"
    try:
        row = read_passage(value)
    except ValidationError as exc:
        return describe_error(exc)
    except Exception as exc:  # nothing in a message may stop the pipeline: it is a reason too
        return f"body: {describe_exception(exc)}"
    if b"\\u0000" in value:  # PostgreSQL text cannot hold U+0000 (the JSON parsed: it is escaped)
        return "body: contains a NUL character (U+0000)"
    if row.captured_at < oldest:
        return f"captured_at: before {oldest.date().isoformat()}, older than the passages kept"
    return row


@dataclass
class PreparedPassages:
    """A batch after the CPU-bound work: valid passages (first of each key) and rejects."""

    rows: dict[tuple[str, datetime], PassageRow] = field(default_factory=dict)
    rejects: list[tuple[ConsumerRecord, str]] = field(default_factory=list)
    duplicates_in_batch: int = 0

    def add(self, record: ConsumerRecord, *, oldest: datetime) -> None:
        outcome = validate(record.value, oldest=oldest)
        if isinstance(outcome, str):
            self.rejects.append((record, outcome))
            return
        key = (outcome.passage_id, outcome.captured_at)
        if key in self.rows:
            self.duplicates_in_batch += 1
        else:
            self.rows[key] = outcome


async def prepare(records: Sequence[ConsumerRecord], *, retention_days: int) -> PreparedPassages:
    """Validate a batch, yielding now and then so the previous batch's transaction progresses."""
    batch = PreparedPassages()
    oldest = oldest_kept(retention_days=retention_days)
    for index, record in enumerate(records, 1):
        batch.add(record, oldest=oldest)
        if index % SLICE == 0:
            await asyncio.sleep(0)
    return batch


def day_of(at: datetime) -> date:
    """The day partition a capture time belongs to."""
    return at.astimezone(ZONE).date()


class KnownPartitions:
    """The days known to have a partition. A batch bringing a day not known reads the catalog and
    creates what is missing before it is stored (in a transaction of its own, so the batch's is
    never the one to do DDL), so a valid passage is never dead-lettered for want of its day."""

    def __init__(self) -> None:
        self.days: set[date] = set()

    def missing(self, batch: PreparedPassages) -> set[date]:
        return {day_of(at) for _, at in batch.rows} - self.days

    async def add(self, conn: AsyncConnection, days: set[date]) -> None:
        self.days = set(await repository.partition_days(conn))
        if absent := sorted(days - self.days):
            created = await repository.add_partitions(conn, absent)
            log.warning(
                "passage partitions were missing; created them",
                extra={"days": [d.isoformat() for d in absent], "partitions_created": created},
            )
        self.days |= days

    def forget(self) -> None:
        """After an insert found a day without its partition (dropped meanwhile): read again."""
        self.days.clear()


def is_missing_partition(exc: BaseException) -> bool:
    """PostgreSQL's check_violation for a row that no partition takes."""
    return "no partition of relation" in str(exc)


@dataclass
class StoreResult:
    stored: int
    duplicates: int
    rejected: int
    staged: Staged  # the forwarded passages' and dead letters' outbox rows (publish_committed)


async def store_batch(
    conn: AsyncConnection, *, batch: PreparedPassages, consumer: str, topic_prefix: str
) -> StoreResult:
    """Store the new passages, queue each new plated one for ``passages.accepted.v1`` (key plate)
    and dead-letter the rejects, in the caller's transaction."""
    new = await repository.insert_new(conn, list(batch.rows.values()))
    topic = topic_prefix + PASSAGES_ACCEPTED
    forward = [
        OutboxMessage(topic, passage_json(r), r.plate.encode())
        for k, r in batch.rows.items()  # in the batch's order: a plate's passages stay in order
        if r.plate and k in new
    ]
    staged = await stage(conn, schema=SCHEMA, messages=forward)
    if batch.rejects:
        letters = [
            DeadLetter.of_record(r, reason, consumer=consumer, topic_prefix=topic_prefix)
            for r, reason in batch.rejects
        ]
        dead = await store_and_stage(conn, schema=SCHEMA, letters=letters, topic_prefix=topic_prefix)
        staged.add(dead.ids, dead.messages)
    result = StoreResult(
        stored=len(new),
        duplicates=batch.duplicates_in_batch + len(batch.rows) - len(new),
        rejected=len(batch.rejects),
        staged=staged,
    )
    OUTCOMES.labels("stored").inc(result.stored)
    OUTCOMES.labels("duplicate").inc(result.duplicates)
    OUTCOMES.labels("rejected").inc(result.rejected)
    return result


async def keep_partitions(
    conn: AsyncConnection, *, retention_days: int, ahead_days: int, on: date | None = None
) -> tuple[int, int]:
    """A partition for each day from ``retention_days`` before ``on`` (today) to ``ahead_days``
    after it; older ones dropped. Returns (created, dropped)."""
    day = on or today()
    return await repository.keep_partitions(
        conn, first_day=day - timedelta(days=retention_days), last_day=day + timedelta(days=ahead_days)
    )


async def maintain(
    engine: AsyncEngine, *, retention_days: int, ahead_days: int, interval_s: float, stop: asyncio.Event
) -> None:
    """``keep_partitions`` every ``interval_s`` until ``stop``; a failure (a drop that waited too
    long for its lock, say) is logged and tried again next time."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
            return
        except TimeoutError:
            pass
        try:
            async with engine.begin() as conn:
                created, dropped = await keep_partitions(
                    conn, retention_days=retention_days, ahead_days=ahead_days
                )
            if created or dropped:
                log.info(
                    "passage partitions kept",
                    extra={"partitions_created": created, "partitions_dropped": dropped},
                )
        except Exception:
            log.warning("passage partition upkeep failed; trying again later", exc_info=True)
