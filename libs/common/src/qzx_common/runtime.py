"""What every service process runs beside its HTTP app: engine, migrations, producer, outbox relay
and consumer loop, started and stopped together from the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from prometheus_client import Histogram
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from qzx_common.db import create_engine, migrate, session_factory, wait_for_database
from qzx_common.heap_report import HeapReport
from qzx_common.kafka.admin import ensure_topics, keep_topics
from qzx_common.kafka.dlq import consumer_sink
from qzx_common.kafka.outbox import OutboxRelay
from qzx_common.kafka.runner import BatchDiscarder, BatchHandler, BatchPreparer, ConsumerRunner
from qzx_common.metrics import Sampler
from qzx_common.periodic import every
from qzx_common.settings import CommonSettings

log = logging.getLogger(__name__)

GC_PAUSE_SECONDS = Histogram(
    "qzx_gc_pause_seconds",
    "Cyclic garbage collector pauses (the event loop stands still meanwhile), by generation",
    ["generation"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)


@dataclass
class Runtime:
    settings: CommonSettings
    schema: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    producer: AIOKafkaProducer
    relay: OutboxRelay
    consumers: list[ConsumerRunner] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stoppers: list[Callable[[], None]] = field(default_factory=list)
    consumer_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    sampler: Sampler | None = None  # gauges for /metrics (qzx_common.metrics)

    @classmethod
    async def start(
        cls, *, settings: CommonSettings, schema: str, migrations_dir: Path, session_sql: Sequence[str] = ()
    ) -> Runtime:
        """``session_sql``: see ``db.create_engine``."""
        engine = create_engine(
            settings.async_database_url,
            pool_size=settings.db_pool_size,
            session_sql=session_sql,
            command_timeout_s=settings.db_command_timeout_s,
            idle_transaction_timeout_s=settings.db_idle_transaction_timeout_s,
            application_name=f"qzx-{schema}",
        )
        await wait_for_database(engine)
        if settings.migrate_on_start:
            await migrate(
                url=settings.async_migrate_url,
                migrations_dir=migrations_dir,
                schema=schema,
                grant_to=settings.service_role,
            )
        create_topics = functools.partial(
            ensure_topics,
            settings.kafka_bootstrap,
            prefix=settings.topic_prefix,
            partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
            min_insync_replicas=settings.topic_min_insync_replicas,
        )
        await create_topics()
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap, linger_ms=5, max_batch_size=256 * 1024, acks="all"
        )
        await producer.start()
        relay = OutboxRelay(engine=engine, producer=producer, schema=schema)
        rt = cls(settings, schema, engine, session_factory(engine), producer, relay)
        rt.tasks.append(asyncio.create_task(relay.run(), name=f"{schema}-outbox-relay"))
        rt.sampler = Sampler(
            schema=schema,
            engine=engine,
            consumers=rt.consumers,
            ready=[rt.check_database, rt.check_consumers],
        )
        rt.run_beside(rt.sampler.run(), name=f"{schema}-metrics", stop=rt.sampler.stop)
        if settings.heap_report_s:
            heap_stop = asyncio.Event()
            rt.run_beside(
                every(
                    settings.heap_report_s,
                    HeapReport().report,
                    stopping=heap_stop,
                    failed="heap report failed",
                ),
                name=f"{schema}-heap-report",
                stop=heap_stop.set,
            )
        topics_stop = asyncio.Event()
        rt.run_beside(
            keep_topics(
                functools.partial(create_topics, connect_attempts=1, check_layout=False),
                every_s=settings.topic_check_s,
                stopping=topics_stop,
            ),
            name=f"{schema}-topic-check",
            stop=topics_stop.set,
        )
        return rt

    def consume(
        self,
        *,
        topics: list[str],
        group: str,
        handle: BatchHandler,
        prepare: BatchPreparer | None = None,
        discard: BatchDiscarder | None = None,
    ) -> ConsumerRunner:
        s = self.settings
        runner = ConsumerRunner(
            bootstrap=s.kafka_bootstrap,
            topics=[s.topic(t) for t in topics],
            group_id=s.topic_prefix + group,
            handle=handle,
            prepare=prepare,
            discard=discard,
            dead_letter=consumer_sink(
                engine=self.engine,
                schema=self.schema,
                relay=self.relay,
                consumer=group,
                topic_prefix=s.topic_prefix,
            ),
            healthy=self.check_database,
            max_records=s.max_batch,
            fetch_max_wait_ms=s.fetch_max_wait_ms,
            fetch_min_bytes=s.fetch_min_bytes,
        )
        self.consumers.append(runner)
        task = asyncio.create_task(_start_and_run(runner), name=f"{group}-consumer")
        task.add_done_callback(_report_failure)
        self.tasks.append(task)
        self.consumer_tasks.append(task)
        return runner

    def run_beside(self, work: Coroutine[Any, Any, None], *, name: str, stop: Callable[[], None]) -> None:
        """Run ``work`` (a service's own relay, say) until ``stop()``, which calls ``stop``."""
        self.stoppers.append(stop)
        self.tasks.append(asyncio.create_task(work, name=name))

    async def check_database(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def check_consumers_running(self) -> None:
        """Raises when a consumer has stopped on an error (it could not join, or its loop died)."""
        for task in self.consumer_tasks:
            if task.done() and not task.cancelled() and (error := task.exception()) is not None:
                raise RuntimeError(f"{task.get_name()} stopped: {error!r}"[:300])

    async def check_consumers(self) -> None:
        """``check_consumers_running``, and raises when a partition has had records waiting for
        longer than ``consumer_stall_s`` (the database is away, say: the runner retries meanwhile,
        so this makes the service unready, never restarts it), or a consumer has been out of its
        group that long (its join or rejoin does not complete: nothing is consumed)."""
        await self.check_consumers_running()
        after_s = self.settings.consumer_stall_s
        stalls = [str(s) for c in self.consumers for s in c.stalls(after_s=after_s)]
        stalls += [why for c in self.consumers if (why := c.not_a_member(after_s=after_s))]
        if stalls:
            raise RuntimeError("; ".join(stalls)[:500])

    @staticmethod
    def ready_checks(app: Any) -> dict[str, Callable[[], Awaitable[None]]]:
        """What a service's /readyz checks (its lifespan keeps the Runtime in app.state.runtime)."""
        return {
            "database": lambda: app.state.runtime.check_database(),
            "consumers": lambda: app.state.runtime.check_consumers(),
        }

    @staticmethod
    def live_checks(app: Any) -> dict[str, Callable[[], Awaitable[None]]]:
        """What a service's /livez checks: a consumer loop that has died does not come back by
        itself, so the liveness probe fails and the pod is restarted (a slow database only makes
        it unready). Before the lifespan has built the runtime there is nothing to fail."""

        async def consumers() -> None:
            rt = getattr(app.state, "runtime", None)
            if rt is not None:
                await rt.check_consumers_running()

        return {"consumers": consumers}

    async def stop(self) -> None:
        for c in self.consumers:
            c.stop()
        self.relay.stop()
        for stop in self.stoppers:
            stop()
        done, pending = await asyncio.wait(self.tasks, timeout=10) if self.tasks else (set(), set())
        for t in pending:
            t.cancel()
        for t in done - set(self.consumer_tasks):  # consumers reported their own failure already
            if not t.cancelled() and t.exception():
                log.error("background task failed", exc_info=t.exception())
        with contextlib.suppress(Exception):
            await self.producer.stop()
        await self.engine.dispose()


def _report_failure(task: asyncio.Task[None]) -> None:
    """A consumer that cannot join or stops on an error says so at once, not at shutdown."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("consumer stopped", extra={"task": task.get_name()}, exc_info=error)


async def _start_and_run(runner: ConsumerRunner) -> None:
    # Joining a group takes the broker seconds: a service's consumers join side by side, in the
    # background, and its HTTP app starts meanwhile.
    try:
        await runner.start()
    except BaseException:
        with contextlib.suppress(Exception):
            await runner.consumer.stop()  # release what the failed start opened
        raise
    await runner.run()


def settle_heap() -> None:
    """Tune the cyclic garbage collector for a service process; call once start-up is done.

    What start-up built (modules, schemas, caches, pools) lives as long as the process: frozen, it
    is no longer walked by every full collection (without this, a third of an ingest process's CPU
    at camera rates, and 100 ms pauses in API requests every few seconds). Batches allocate
    thousands of short-lived containers that mostly die by reference counting, so the young
    generation is collected every 100,000 allocations instead of 700 (GC time in the ingest loop
    went from ~7 % of its CPU to under 1 %; scoring 60,000 events spent 0.30 s in young
    collections at 20,000 and 0.02 s at 100,000, about 3 % of its CPU)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 20, 20)
    if _time_gc not in gc.callbacks:
        gc.callbacks.append(_time_gc)


_gc_started = 0.0


def _time_gc(phase: str, info: dict[str, int]) -> None:
    global _gc_started
    if phase == "start":
        _gc_started = time.perf_counter()
    else:
        GC_PAUSE_SECONDS.labels(str(info["generation"])).observe(time.perf_counter() - _gc_started)
