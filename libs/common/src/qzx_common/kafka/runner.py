"""The consumer loop every service uses.

At-least-once on the wire, exactly-once in effect: a batch is handed to ``handle`` (which applies it
in one database transaction, idempotently), and only then are the offsets committed (``offset + 1``
per partition). A crash between the two redelivers the batch, and the idempotent writes absorb it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError
from prometheus_client import Counter, Histogram

log = logging.getLogger(__name__)

BatchHandler = Callable[[Any], Awaitable[None]]
BatchPreparer = Callable[[Sequence[ConsumerRecord]], Any]
BatchDiscarder = Callable[[Any], Awaitable[None]]

RECORDS = Counter("qzx_consumer_records_total", "Records handed to the handler", ["group", "topic"])
BATCH_SECONDS = Histogram(
    "qzx_consumer_batch_seconds",
    "Time to apply one batch",
    ["group"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
FAILURES = Counter("qzx_consumer_batch_failures_total", "Batches whose handler raised", ["group"])


class _CommitOnRevoke(ConsumerRebalanceListener):
    def __init__(self, runner: ConsumerRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # The loop commits after every batch; wait for one in flight so its offsets are not lost.
        async with self.runner.batch_lock:
            pass

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
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
        self.max_records = max_records
        self.batch_lock = asyncio.Lock()
        self.stopping = asyncio.Event()
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
        self.consumer.subscribe(self.topics, listener=_CommitOnRevoke(self))
        await self.consumer.start()

    def stop(self) -> None:
        """Signal-safe: only sets the stop event."""
        self.stopping.set()

    async def run(self) -> None:
        in_flight: asyncio.Task[None] | None = None
        waiting: Any = None  # prepared, not yet handed to a task
        try:
            while not self.stopping.is_set():
                batches = await self.consumer.getmany(timeout_ms=200, max_records=self.max_records)
                records = [r for part in batches.values() for r in part]
                if not records:
                    continue
                # Records come in offset order per partition: the last one is the one to commit.
                offsets = {tp: part[-1].offset + 1 for tp, part in batches.items() if part}
                # The CPU-bound part of this batch (``prepare``) runs while the previous batch's
                # database transaction is in flight; batches still apply and commit in order. A
                # preparer may be a coroutine that yields now and then: the previous batch's round
                # trips only move while the loop runs (records already fetched arrive without it).
                prepared = self.prepare(records) if self.prepare else records
                if inspect.isawaitable(prepared):
                    prepared = await prepared
                waiting = prepared
                if in_flight is not None:
                    await in_flight
                in_flight, waiting = asyncio.create_task(self._apply(records, prepared, offsets)), None
            if in_flight is not None:
                await in_flight
        finally:
            if in_flight is not None and not in_flight.done():
                in_flight.cancel()
            if waiting is not None and self.discard is not None:
                await self.discard(waiting)
            await self.consumer.stop()

    async def _apply(
        self, records: list[ConsumerRecord], prepared: Any, offsets: dict[TopicPartition, int]
    ) -> None:
        async with self.batch_lock:
            with BATCH_SECONDS.labels(self.group_id).time():
                while True:
                    try:
                        await self.handle(prepared)
                        break
                    except Exception:
                        # The batch is not committed; retry it rather than skip valid data.
                        FAILURES.labels(self.group_id).inc()
                        log.exception("batch handler failed; retrying", extra={"records": len(records)})
                        if self.stopping.is_set():
                            raise
                        await asyncio.sleep(1.0)
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
        per_topic: dict[str, int] = {}
        for r in records:
            per_topic[r.topic] = per_topic.get(r.topic, 0) + 1
        for topic, n in per_topic.items():
            RECORDS.labels(self.group_id, topic).inc(n)
