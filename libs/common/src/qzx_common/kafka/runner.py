"""The consumer loop every service uses.

At-least-once on the wire, exactly-once in effect: a batch is handed to ``handle`` (which applies it
in one database transaction, idempotently), and only then are the offsets committed (``offset + 1``
per partition). A crash between the two redelivers the batch, and the idempotent writes absorb it.

No record can stop a partition. When a batch fails, the runner tells the two kinds of failure apart
(``qzx_common.transient``):
- transient (a lost connection, a serialization conflict, the database down): the batch is retried
  with backoff, for as long as it takes; the partition is reported stalled meanwhile;
- anything else is taken to belong to a record: the batch is split in halves, each prepared and
  applied on its own, down to the record that fails alone, which is dead-lettered (``dead_letter``)
  with the reason and its topic, partition and offset. A preparer or handler that knows which
  records are bad raises ``RecordsRejected`` instead, and those go straight to the dead letters.
Before a record is dead-lettered the database is checked (``healthy``): if it is gone, the failure
was transient after all, and the record is retried instead.

A batch prepared beside one that then failed may have read that batch's state (alerts' scoring
reads the batch before it from memory), so it is discarded and prepared again once that is settled.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError
from prometheus_client import Counter, Gauge, Histogram

from qzx_common.reasons import describe_exception
from qzx_common.tracing import consuming
from qzx_common.transient import backoff_s, is_transient

log = logging.getLogger(__name__)

BatchHandler = Callable[[Any], Awaitable[None]]
BatchPreparer = Callable[[Sequence[ConsumerRecord]], Any]
BatchDiscarder = Callable[[Any], Awaitable[None]]
# Stores (record, reason) pairs for good; raises if it cannot (the runner retries it).
DeadLetterSink = Callable[[Sequence[tuple[ConsumerRecord, str]]], Awaitable[None]]
HealthCheck = Callable[[], Awaitable[None]]

RECORDS = Counter("qzx_consumer_records_total", "Records handed to the handler", ["group", "topic"])
BATCH_SECONDS = Histogram(
    "qzx_consumer_batch_seconds",
    "Time to apply one batch",
    ["group"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
FAILURES = Counter("qzx_consumer_batch_failures_total", "Batches whose handler raised", ["group"])
RETRIES = Counter(
    "qzx_consumer_retries_total", "Batch attempts repeated after a failure, by kind", ["group", "kind"]
)
DEAD_LETTERS = Counter(
    "qzx_consumer_dead_letters_total", "Records the consumer could not apply", ["group", "topic"]
)
LAST_COMMIT = Gauge(
    "qzx_consumer_last_commit_timestamp_seconds",
    "When the consumer last committed a partition (unix time)",
    ["group", "topic", "partition"],
)


# A transient error that recurs this many times while the database answers is the records' own.
TRANSIENT_TRIES = 5


class RecordsRejected(Exception):
    """Raised by a preparer or handler: these records (by position in the batch handed to it) can
    never be applied, for these reasons. The runner dead-letters them and applies the rest."""

    def __init__(self, reasons: Mapping[int, str]) -> None:
        super().__init__(f"{len(reasons)} record(s) rejected")
        self.reasons = dict(reasons)


@dataclass(slots=True)
class Stall:
    """A partition with records waiting that has not advanced for ``seconds``."""

    group: str
    topic: str
    partition: int
    seconds: float
    last_error: str | None

    def __str__(self) -> str:
        why = f": {self.last_error}" if self.last_error else ""
        return f"{self.group} {self.topic}[{self.partition}] has not advanced for {self.seconds:.0f} s{why}"


@dataclass(slots=True)
class _PrepareFailed:
    error: Exception


@dataclass(slots=True)
class _Failed:
    """A batch whose first attempt failed: settled by the loop, with nothing else in flight."""

    records: list[ConsumerRecord]
    prepared: Any
    error: Exception
    offsets: dict[TopicPartition, int]


class _CommitOnRevoke(ConsumerRebalanceListener):
    def __init__(self, runner: ConsumerRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.runner._joining()  # a rebalance: out of the group until it assigns again
        # The loop commits after every batch; wait for one in flight so its offsets are not lost.
        async with self.runner.batch_lock:
            pass

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        # Called after every join, with no partitions too (a replica beyond the partition count
        # is a member all the same).
        self.runner._joined_since = time.monotonic()
        self.runner._joining_since = None
        log.info("partitions assigned", extra={"partitions": [f"{t.topic}:{t.partition}" for t in assigned]})


class ConsumerRunner:
    def __init__(
        self,
        *,
        bootstrap: str,
        topics: Sequence[str],
        group_id: str,
        handle: BatchHandler,
        prepare: BatchPreparer | None = None,
        discard: BatchDiscarder | None = None,
        dead_letter: DeadLetterSink | None = None,
        healthy: HealthCheck | None = None,
        max_records: int = 2000,
        fetch_max_wait_ms: int = 20,
        fetch_min_bytes: int = 1,
        session_timeout_ms: int = 10_000,
    ) -> None:
        self.topics = list(topics)
        self.group_id = group_id
        self.handle = handle
        self.prepare = prepare
        self.discard = discard  # gives up a prepared batch that will not be handled
        self.dead_letter = dead_letter or _log_only
        self.healthy = healthy
        self.max_records = max_records
        self.batch_lock = asyncio.Lock()
        self.stopping = asyncio.Event()
        self.last_error: str | None = None
        # Per partition: since when fetched records have waited without a commit.
        self._waiting_since: dict[TopicPartition, float] = {}
        self._fetched_to: dict[TopicPartition, int] = {}
        self.committed: dict[TopicPartition, int] = {}  # the next offset to apply (the lag gauge)
        # Since when the consumer has been out of its group (starting, or rebalancing); None while
        # it is a member.
        self._joining_since: float | None = None
        self._joined_since: float | None = None
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=fetch_max_wait_ms,
            fetch_min_bytes=fetch_min_bytes,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=max(1000, session_timeout_ms // 4),
        )

    async def start(self) -> None:
        self._joining()
        self.consumer.subscribe(self.topics, listener=_CommitOnRevoke(self))
        await self.consumer.start()

    def stop(self) -> None:
        """Signal-safe: only sets the stop event."""
        self.stopping.set()

    def stalls(self, *, after_s: float) -> list[Stall]:
        """Partitions whose fetched records have waited longer than ``after_s`` for a commit."""
        now = time.monotonic()
        return [
            Stall(self.group_id, tp.topic, tp.partition, now - since, self.last_error)
            for tp, since in self._waiting_since.items()
            if now - since > after_s
        ]

    def _joining(self) -> None:
        if self._joining_since is None:
            self._joining_since = time.monotonic()

    def not_a_member(self, *, after_s: float) -> str | None:
        """Why the consumer counts as stalled when it has been out of its group (no membership,
        so no partition, however much waits) for longer than ``after_s``; else None."""
        since = self._joining_since
        if since is None or time.monotonic() - since <= after_s:
            return None
        state = "not yet joined" if self._joined_since is None else "rejoining"
        return f"{self.group_id} has had no group membership for {time.monotonic() - since:.0f} s ({state})"

    async def run(self) -> None:
        in_flight: asyncio.Task[_Failed | None] | None = None
        waiting: Any = None  # prepared, not yet handed to a task
        try:
            while not self.stopping.is_set():
                if in_flight is not None and in_flight.done():  # nothing new came: settle it now
                    failed, in_flight = in_flight.result(), None
                    if failed is not None:
                        await self._settle_and_commit(failed)
                batches = await self.consumer.getmany(timeout_ms=200, max_records=self.max_records)
                records = [r for part in batches.values() for r in part]
                if not records:
                    continue
                # Records come in offset order per partition: the last one is the one to commit.
                offsets = {tp: part[-1].offset + 1 for tp, part in batches.items() if part}
                self._fetched(offsets)
                # The CPU-bound part of this batch (``prepare``) runs while the previous batch's
                # database transaction is in flight; batches still apply and commit in order. A
                # preparer may be a coroutine that yields now and then: the previous batch's round
                # trips only move while the loop runs (records already fetched arrive without it).
                waiting = await self._prepare(records)
                if in_flight is not None:
                    failed, in_flight = await in_flight, None
                    if failed is not None:
                        await self._discard(waiting)
                        waiting = None
                        await self._settle_and_commit(failed)
                        waiting = await self._prepare(records)
                in_flight, waiting = asyncio.create_task(self._apply(records, waiting, offsets)), None
            if in_flight is not None:
                failed, in_flight = await in_flight, None
                if failed is not None:
                    await self._settle_and_commit(failed)
        finally:
            if in_flight is not None and not in_flight.done():
                in_flight.cancel()
            await self._discard(waiting)
            await self.consumer.stop()

    async def _prepare(self, records: Sequence[ConsumerRecord]) -> Any:
        if self.prepare is None:
            return list(records)
        try:
            prepared = self.prepare(records)
            if inspect.isawaitable(prepared):
                prepared = await prepared
        except Exception as exc:  # settled when the batch is applied
            return _PrepareFailed(exc)
        return prepared

    async def _discard(self, prepared: Any) -> None:
        if prepared is not None and not isinstance(prepared, _PrepareFailed) and self.discard is not None:
            await self.discard(prepared)

    async def _attempt(self, prepared: Any) -> Exception | None:
        if isinstance(prepared, _PrepareFailed):
            return prepared.error
        try:
            await self.handle(prepared)
        except Exception as exc:
            return exc
        return None

    async def _apply(
        self, records: list[ConsumerRecord], prepared: Any, offsets: dict[TopicPartition, int]
    ) -> _Failed | None:
        """The first attempt; a failure is handed back to the loop, which settles it alone."""
        async with self.batch_lock:
            with BATCH_SECONDS.labels(self.group_id).time(), consuming(self.group_id, records):
                error = await self._attempt(prepared)
            if error is not None:
                FAILURES.labels(self.group_id).inc()
                return _Failed(records, prepared, error, offsets)
            await self._commit(records, offsets)
        return None

    async def _settle_and_commit(self, failed: _Failed) -> None:
        async with self.batch_lock:
            await self._settle(failed.records, failed.prepared, failed.error)
            await self._commit(failed.records, failed.offsets)

    async def _settle(self, records: list[ConsumerRecord], prepared: Any, error: Exception | None) -> None:
        """Apply ``records`` whose attempt with ``prepared`` failed with ``error``: retry what is
        transient, dead-letter what is rejected, split the rest until the failing record is alone."""
        attempt = 0
        while error is not None:
            self.last_error = describe_exception(error)
            if self.stopping.is_set():
                raise error  # not committed: redelivered after the restart
            if isinstance(error, RecordsRejected) and (
                rejected := {i: why for i, why in error.reasons.items() if 0 <= i < len(records)}
            ):
                await self._store_dead_letters([(records[i], why) for i, why in rejected.items()])
                records = [r for i, r in enumerate(records) if i not in rejected]
                await self._discard(prepared)
                if not records:
                    break
                prepared = await self._prepare(records)
            elif not await self._database_up() or (is_transient(error) and attempt < TRANSIENT_TRIES):
                # The database is gone (whatever the error said), or the error passes by itself:
                # the same records again, for as long as the database is away.
                attempt += 1
                RETRIES.labels(self.group_id, "transient").inc()
                log.warning(
                    "batch failed; retrying",
                    extra={
                        "group": self.group_id,
                        "records": len(records),
                        "attempt": attempt,
                        "error": self.last_error,
                    },
                )
                await self._pause(backoff_s(attempt))
                if isinstance(prepared, _PrepareFailed):
                    prepared = await self._prepare(records)
            else:  # it belongs to a record (or a "transient" one keeps failing with the database up)
                await self._split(records, prepared, error)
                break
            error = await self._attempt(prepared)
        self.last_error = None

    async def _split(self, records: list[ConsumerRecord], prepared: Any, error: Exception) -> None:
        await self._discard(prepared)
        if len(records) == 1:
            log.error(
                "record dead-lettered",
                extra={"group": self.group_id, "topic": records[0].topic, "offset": records[0].offset},
                exc_info=error,
            )
            await self._store_dead_letters([(records[0], describe_exception(error))])
            return
        RETRIES.labels(self.group_id, "split").inc()
        half = len(records) // 2
        for part in (records[:half], records[half:]):  # in order: per-partition order holds
            part_prepared = await self._prepare(part)
            await self._settle(part, part_prepared, await self._attempt(part_prepared))

    async def _store_dead_letters(self, rejected: list[tuple[ConsumerRecord, str]]) -> None:
        """Store for good, however long that takes: a record is committed past only once kept."""
        attempt = 0
        while rejected:
            try:
                await self.dead_letter(rejected)
            except Exception as exc:
                if self.stopping.is_set():
                    raise
                attempt += 1
                self.last_error = f"dead-letter store failed: {describe_exception(exc)}"
                log.exception("storing dead letters failed; retrying", extra={"group": self.group_id})
                await self._pause(backoff_s(attempt))
                continue
            for record, _ in rejected:
                DEAD_LETTERS.labels(self.group_id, record.topic).inc()
            return

    async def _database_up(self) -> bool:
        if self.healthy is None:
            return True
        try:
            await self.healthy()
        except Exception:
            return False
        return True

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    def _fetched(self, offsets: dict[TopicPartition, int]) -> None:
        now = time.monotonic()
        for tp, end in offsets.items():
            self._fetched_to[tp] = end
            self._waiting_since.setdefault(tp, now)

    async def _commit(self, records: list[ConsumerRecord], offsets: dict[TopicPartition, int]) -> None:
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group rebalanced since these records were fetched (a batch prepared before
            # the revocation is applied after it), and their partitions may have another owner
            # now, which resumes from the last commit: it applies them again, idempotently.
            log.warning(
                "offsets not committed after a rebalance; the partitions' new owner applies the batch again",
                extra={"error": repr(exc), "records": len(records)},
            )
        now, wall = time.monotonic(), time.time()
        for tp, end in offsets.items():
            if self._fetched_to.get(tp, end) <= end:
                self._waiting_since.pop(tp, None)
            else:  # the next batch of it is already fetched: it waits from now
                self._waiting_since[tp] = now
            LAST_COMMIT.labels(self.group_id, tp.topic, str(tp.partition)).set(wall)
            self.committed[tp] = end
        per_topic: dict[str, int] = {}
        for r in records:
            per_topic[r.topic] = per_topic.get(r.topic, 0) + 1
        for topic, n in per_topic.items():
            RECORDS.labels(self.group_id, topic).inc(n)


async def _log_only(rejected: Sequence[tuple[ConsumerRecord, str]]) -> None:
    """The sink of a runner given none (tests of the loop alone)."""
    for record, reason in rejected:
        log.error(
            "record skipped (no dead-letter store)",
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "error": reason,
            },
        )
