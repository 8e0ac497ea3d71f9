"""Ingest benchmark: the pipeline beside its raw baselines, all in one run on one stack.

    uv run python -m qzx_dev.bench.ingest [--quick] [--events N]

(a) raw aiokafka consume rate of the camera topic, pre-filled with simulated events;
(b) raw asyncpg COPY rate of the same rows into a scratch table;
(c) the ingest pipeline (``qzx_ingest.main.create_app`` in-process, fresh database and topic prefix):
    time until every valid event is a stored row;
(d) latency from produce to row visible at 1,000 events/s (1 in 10 events sampled, polled by id);
(e) the straightforward design (one ORM insert and commit per message) on a subset.
Rates are steady-state (first record or row to last), so group joins and start-up do not count.
Results are printed as a table and written as JSON under bench-results/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from qzx_common.contracts.events import ViolationEvent
from qzx_common.kafka.admin import ensure_topics
from qzx_common.settings import to_plain_url
from qzx_common.topics import CAMERA_VIOLATIONS
from qzx_dev.bench import run_async, servers
from qzx_dev.bench.ingest_pipeline import latency, naive, pipeline, say
from qzx_dev.bench.kafka import raw_consume
from qzx_dev.simulator import EventGenerator, SimMessage
from qzx_ingest.violations.repository import STORED_COLUMNS as COLUMNS

TARGET_RATE = 20_000  # events/s for one ingest process
GOAL_RATIO = 0.4  # of the slower raw baseline


# --- the stack ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fresh_database(server_url: str, label: str) -> AsyncIterator[str]:
    from qzx_dev.embedded import create_database, drop_database

    name = f"qzx_bench_{label}_{uuid.uuid4().hex[:8]}"
    url = await asyncio.to_thread(create_database, server_url, name)
    try:
        yield url
    finally:
        await asyncio.to_thread(drop_database, server_url, name)


def ingest_app(
    database_url: str, bootstrap: str, prefix: str, *, consume: bool = True, **settings: Any
) -> Any:
    from qzx_ingest.main import create_app
    from qzx_ingest.settings import IngestSettings

    return create_app(
        IngestSettings(
            database_url=database_url,
            kafka_bootstrap=bootstrap,
            topic_prefix=prefix,
            log_json=False,
            **settings,
        ),
        consume=consume,
    )


async def migrate(database_url: str, bootstrap: str, prefix: str) -> None:
    app = ingest_app(database_url, bootstrap, prefix, consume=False)
    async with app.router.lifespan_context(app):
        pass


# --- (pre-fill) and (a) raw consume -------------------------------------------------------------


async def prefill(bootstrap: str, topic: str, messages: list[SimMessage]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=10, max_batch_size=512 * 1024)
    await producer.start()
    try:
        started = time.perf_counter()
        pending = []
        for i, m in enumerate(messages, 1):
            pending.append(await producer.send(topic, m.value, key=m.key))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
                say(f"pre-filled {i:,}/{len(messages):,}")
        await asyncio.gather(*pending)
        return len(messages) / (time.perf_counter() - started)
    finally:
        await producer.stop()


# --- (b) raw COPY -------------------------------------------------------------------------------


def copy_rows(messages: list[SimMessage]) -> list[tuple[Any, ...]]:
    """The columns ingest stores, for every distinct valid event (parsed outside any timing)."""
    rows = []
    for m in messages:
        if m.kind != "valid":
            continue
        e = ViolationEvent.model_validate_json(m.value)
        payload = e.model_dump_json(exclude_none=True)
        loc = e.location
        ids = (e.event_id, e.device_id, e.violation.value, e.plate)
        rows.append((*ids, loc.admin_code, e.captured_at, loc.lat, loc.lon, "camera", payload))
    return rows


async def raw_copy(database_url: str, rows: list[tuple[Any, ...]]) -> dict[str, float]:
    """COPY into a bare table (the baseline) and into a copy of ingest.violations with its indexes."""
    conn = await asyncpg.connect(to_plain_url(database_url))
    rates = {}
    try:
        await conn.execute("CREATE SCHEMA IF NOT EXISTS bench")
        await conn.execute(
            "CREATE TABLE bench.bare AS SELECT " + ", ".join(COLUMNS) + " FROM ingest.violations WITH NO DATA"
        )
        await conn.execute("CREATE TABLE bench.indexed (LIKE ingest.violations INCLUDING ALL)")
        for table in ("bare", "indexed"):
            started = time.perf_counter()
            for i in range(0, len(rows), 10_000):  # transactions of a size a consumer would use
                await conn.copy_records_to_table(
                    table, schema_name="bench", columns=COLUMNS, records=rows[i : i + 10_000]
                )
            rates[table] = len(rows) / (time.perf_counter() - started)
        await conn.execute("DROP SCHEMA bench CASCADE")
    finally:
        await conn.close()
    return rates


# --- the run ------------------------------------------------------------------------------------


async def run(
    *, events: int, naive_events: int, latency_seconds: float, server_url: str, bootstrap: str
) -> dict[str, Any]:
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    topic = prefix + CAMERA_VIOLATIONS
    say(f"generating {events:,} simulated events")
    messages = EventGenerator(seed=2026, dup_share=0.01, bad_share=0.005).batch(events)
    expected = sum(m.kind == "valid" for m in messages)
    rows = copy_rows(messages)
    r: dict[str, Any] = {
        "events": events,
        "valid_distinct": expected,
        "mean_bytes": sum(len(m.value) for m in messages) / events,
    }

    await ensure_topics(bootstrap, prefix=prefix)
    say("pre-filling the camera topic")
    r["produce_rate"] = await prefill(bootstrap, topic, messages)
    say("(a) raw consume")
    r["raw_consume_rate"] = await raw_consume(bootstrap, topic, events)

    async with fresh_database(server_url, "pipeline") as db, fresh_database(server_url, "naive") as naive_db:
        await migrate(db, bootstrap, prefix)
        say("(b) raw COPY")
        copy = await raw_copy(db, rows)
        r["raw_copy_rate"], r["raw_copy_indexed_rate"] = copy["bare"], copy["indexed"]
        say("(c) ingest pipeline")
        conn = await asyncpg.connect(to_plain_url(db))
        app = ingest_app(db, bootstrap, prefix, migrate_on_start=False)
        try:
            async with app.router.lifespan_context(app):
                p = await pipeline(conn, expected)
                r["pipeline_rate"], r["pipeline_rate_incl_startup"] = p["rate"], p["rate_incl_startup"]
                r["pipeline_forwarded_rate"] = p["outbox_drained_rate"]
                say(f"(d) latency at 1,000 events/s for {latency_seconds:.0f} s")
                r["latency"] = await latency(bootstrap, topic, conn, latency_seconds)
        finally:
            await conn.close()
        say(f"(e) naive design on {naive_events:,} events")
        await migrate(naive_db, bootstrap, prefix + "naive.")
        r["naive_rate"] = await naive(naive_db, bootstrap, topic, naive_events)

    r["pipeline_vs_slower_raw"] = r["pipeline_rate"] / min(r["raw_consume_rate"], r["raw_copy_rate"])
    r["naive_vs_pipeline"] = r["naive_rate"] / r["pipeline_rate"]
    return r


def table(r: dict[str, Any]) -> str:
    lat = r["latency"]
    slower = min(r["raw_consume_rate"], r["raw_copy_rate"])
    lines = [
        ("events (valid distinct)", f"{r['events']:,} ({r['valid_distinct']:,}), {r['mean_bytes']:.0f} B each"),
        ("pre-fill produce (futures in flight)", f"{r['produce_rate']:>10,.0f} ev/s"),
        ("(a) raw aiokafka consume", f"{r['raw_consume_rate']:>10,.0f} ev/s"),
        ("(b) raw asyncpg COPY, bare table", f"{r['raw_copy_rate']:>10,.0f} rows/s"),
        ("    raw COPY, ingest.violations' indexes", f"{r['raw_copy_indexed_rate']:>10,.0f} rows/s"),
        ("(c) ingest pipeline, rows stored", f"{r['pipeline_rate']:>10,.0f} ev/s   (target >= {TARGET_RATE:,})"),
        ("    incl. start-up and group join", f"{r['pipeline_rate_incl_startup']:>10,.0f} ev/s"),
        ("    until forwarded (outbox drained)", f"{r['pipeline_forwarded_rate']:>10,.0f} ev/s"),
        ("(d) produce -> row visible @1,000 ev/s", f"p50 {lat['p50_ms']:.0f} ms, p99 {lat['p99_ms']:.0f} ms, max {lat['max_ms']:.0f} ms ({lat['samples']:,} samples)"),
        ("(e) naive: ORM insert + commit per msg", f"{r['naive_rate']:>10,.0f} ev/s"),
        ("ratio pipeline / min(raw consume, COPY)", f"{r['pipeline_vs_slower_raw']:>10.2f}     (goal >= {GOAL_RATIO}; slower raw = {slower:,.0f}/s)"),
        ("ratio naive / pipeline", f"{r['naive_vs_pipeline']:>10.3f}     (pipeline is {1 / r['naive_vs_pipeline']:,.0f}x faster)"),
    ]  # fmt: skip
    width = max(len(k) for k, _ in lines)
    verdict = "meets" if r["pipeline_rate"] >= TARGET_RATE else "MISSES"
    body = "\n".join(f"  {k:<{width}}  {v}" for k, v in lines)
    return f"ingest benchmark\n{body}\n  => pipeline {verdict} the {TARGET_RATE:,} ev/s target; p99 target 250 ms: {'met' if lat['p99_ms'] < 250 else 'MISSED'}"


def write_json(r: dict[str, Any], *, name: str = "ingest") -> Path:
    root = Path(__file__).resolve().parents[5]
    folder = (root if (root / "pyproject.toml").exists() else Path.cwd()) / "bench-results"
    folder.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{name}-{stamp}.json"
    meta = {
        "when": stamp,
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    path.write_text(json.dumps(meta | r, indent=2) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qzx_dev.bench.ingest", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="20,000 events, a short latency run")
    parser.add_argument(
        "--events", type=int, help="events to pre-fill (default 200,000; 20,000 with --quick)"
    )
    parser.add_argument("--naive-events", type=int, help="events through the naive design (default 5,000)")
    parser.add_argument("--latency-seconds", type=float, help="seconds at 1,000 events/s (default 20)")
    args = parser.parse_args(argv)
    events = args.events or (20_000 if args.quick else 200_000)
    naive_events = min(events, args.naive_events or (1_000 if args.quick else 5_000))
    seconds = args.latency_seconds or (5 if args.quick else 20)
    with servers("ingest") as (server_url, bootstrap):
        results = run_async(
            run(
                events=events,
                naive_events=naive_events,
                latency_seconds=seconds,
                server_url=server_url,
                bootstrap=bootstrap,
            )
        )
    results["quick"] = args.quick
    print(table(results), flush=True)
    say(f"results written to {write_json(results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
