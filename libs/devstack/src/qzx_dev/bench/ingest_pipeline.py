"""Ingest benchmark (c)–(e): the pipeline's throughput, its latency, and the straightforward design
as a baseline (``bench.ingest`` runs them)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import Callable

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from qzx_common.contracts.events import ViolationEvent
from qzx_dev.simulator import EventGenerator
from qzx_dev.simulator.stream import TokenBucket


def say(text: str) -> None:
    print(f"[bench ingest {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# --- (c) the pipeline and (d) latency -----------------------------------------------------------


def accepted_counter() -> Callable[[], float]:
    """The service's own accepted-events metric: free to poll, unlike count(*) on a busy table."""
    from prometheus_client import REGISTRY

    labels = {"source": "camera", "outcome": "accepted"}
    return lambda: REGISTRY.get_sample_value("qzx_ingest_events_total", labels) or 0.0


async def pipeline(conn: asyncpg.Connection, expected: int) -> dict[str, float]:
    accepted = accepted_counter()
    base = accepted()
    started = time.perf_counter()
    first = None
    last_report = started
    while accepted() - base < expected:
        await asyncio.sleep(0.05)  # the registry collects every metric per read: poll gently
        now = time.perf_counter()
        if first is None and accepted() > base:
            first = now
        if now - last_report > 5:
            say(f"pipeline: {accepted() - base:,.0f}/{expected:,} stored")
            last_report = now
        if now - started > 600:
            raise TimeoutError(f"pipeline stored {accepted() - base:.0f} of {expected} in 600 s")
    await _until(conn, "SELECT count(*) >= $1 FROM ingest.violations", expected)  # and committed
    done = time.perf_counter()
    await _until(conn, "SELECT count(*) = $1 FROM ingest.outbox", 0)
    relayed = time.perf_counter()
    return {
        "rate": expected / (done - (first or started)),
        "rate_incl_startup": expected / (done - started),
        "outbox_drained_rate": expected / (relayed - (first or started)),
    }


async def _until(conn: asyncpg.Connection, query: str, arg: int) -> None:
    for _ in range(60_000):
        if await conn.fetchval(query, arg):
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(query)


async def latency(
    bootstrap: str, topic: str, conn: asyncpg.Connection, seconds: float, rate: int = 1000
) -> dict[str, float]:
    gen = EventGenerator(seed=77, dup_share=0, bad_share=0)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    sent_at: dict[str, float] = {}
    seen_at: dict[str, float] = {}
    stop = asyncio.Event()

    async def watch() -> None:
        while not stop.is_set() or len(seen_at) < len(sent_at):
            pending = [i for i in sent_at if i not in seen_at]
            if pending:
                found = await conn.fetch(
                    "SELECT event_id FROM ingest.violations WHERE event_id = ANY($1)", pending
                )
                now = time.perf_counter()
                seen_at.update((r["event_id"], now) for r in found)
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    bucket = TokenBucket(rate)
    n, ends = 0, time.perf_counter() + seconds
    try:
        while time.perf_counter() < ends:
            for m in gen.batch(await bucket.take(50)):
                n += 1
                if n % 10 == 0:
                    sent_at[m.event_id] = time.perf_counter()  # type: ignore[index]
                await producer.send(topic, m.value, key=m.key)
        await producer.flush()
        stop.set()
        await asyncio.wait_for(watcher, timeout=30)
    finally:
        await producer.stop()
    ms = sorted((seen_at[i] - sent_at[i]) * 1000 for i in sent_at)
    return {"p50_ms": _pct(ms, 50), "p99_ms": _pct(ms, 99), "max_ms": ms[-1], "samples": len(ms), "events": n}


def _pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


# --- (e) the straightforward design -------------------------------------------------------------


async def naive(database_url: str, bootstrap: str, topic: str, limit: int) -> float:
    """One message at a time: parse, one ORM insert, commit; auto-committed offsets."""
    from sqlalchemy.exc import IntegrityError

    from qzx_common.db import create_engine, session_factory
    from qzx_common.settings import to_asyncpg_url
    from qzx_ingest.db import dead_letters
    from qzx_ingest.violations.models import ViolationRow

    engine = create_engine(to_asyncpg_url(database_url), pool_size=2)
    sessions = session_factory(engine)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-naive-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        started = None
        for _ in range(limit):
            record = await consumer.getone()
            started = started or time.perf_counter()
            async with sessions() as s:
                try:
                    e = ViolationEvent.model_validate_json(record.value)
                    payload = json.loads(e.model_dump_json(exclude_none=True))
                    s.add(
                        ViolationRow(
                            event_id=e.event_id, device_id=e.device_id, violation=e.violation.value, plate=e.plate,
                            admin_code=e.location.admin_code, captured_at=e.captured_at, lat=e.location.lat,
                            lon=e.location.lon, source="camera", payload=payload,
                        )
                    )  # fmt: skip
                except ValueError as exc:
                    await s.execute(dead_letters.insert().values(source=record.topic, source_partition=record.partition,
                                        source_offset=record.offset, key=record.key, raw=record.value, error=str(exc)[:500]))  # fmt: skip
                try:
                    await s.commit()
                except IntegrityError:
                    await s.rollback()  # a duplicate
        return limit / (time.perf_counter() - (started or time.perf_counter()))
    finally:
        await consumer.stop()
        await engine.dispose()
