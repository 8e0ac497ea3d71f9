"""Passages benchmark: one ingest process storing checkpoint passages, beside raw baselines.

    uv run python -m qzx_dev.bench.passages [--quick] [--passages N]

(a) raw aiokafka consume rate of the passage topic, pre-filled with passages;
(b) raw asyncpg COPY of the same rows into the same partitioned table (``ingest.passages``, its
    day partitions and indexes), in transactions of 2,000 rows as the consumer writes them;
(c) the ingest pipeline (``qzx_ingest.main.create_app`` in-process): from the first passage stored
    to the last, through validation, the scratch-table COPY and INSERT … ON CONFLICT, and commit.
The ratio (c) / (b) is the figure issue 21 sets (≥ 0.5, and ≥ 50,000 passages/s). 1 % of the
passages are replays and 0.5 % are malformed, as a roadside gateway delivers them.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from qzx_common.contracts.passage_reader import COLUMNS, read_passage
from qzx_common.kafka.admin import ensure_topics
from qzx_common.settings import to_asyncpg_url, to_plain_url
from qzx_common.topics import CAMERA_PASSAGES
from qzx_dev.bench import aligned, run_async, servers
from qzx_dev.bench.ingest import fresh_database, ingest_app, prefill, write_json
from qzx_dev.bench.kafka import raw_consume
from qzx_dev.simulator import SimMessage

TARGET_RATE = 50_000
GOAL_RATIO = 0.5
BATCH = 2000


def say(text: str) -> None:
    print(f"[bench passages {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def generate(n: int, *, seed: int = 21) -> list[SimMessage]:
    """``n`` passages over the last six hours at 400 checkpoints, 1 % replayed, 0.5 % malformed."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    sent: list[tuple[bytes, bytes]] = []
    out = []
    for i in range(n):
        if sent and rng.random() < 0.01:
            (value, key), kind = rng.choice(sent), "duplicate"
        elif rng.random() < 0.005:
            value, key, kind = orjson.dumps({"passage_id": f"bad-{i}", "lane": 0}), b"bad", "malformed"
        else:
            device = f"37{rng.randrange(1, 18):02d}02-CK-{rng.randrange(400):04d}"
            at = now - timedelta(seconds=rng.uniform(0, 6 * 3600))
            p = {
                "passage_id": f"{device}-{i:010d}",
                "device_id": device,
                "captured_at": at.astimezone(timedelta_zone(8)).isoformat(timespec="milliseconds"),
                "plate": f"鲁{'ABCDEFGHJK'[rng.randrange(10)]}{rng.randrange(100000):05d}",
                "plate_color": "blue",
                "vehicle_class": "car",
                "direction": rng.choice(("N", "S", "E", "W")),
                "lane": rng.randrange(1, 5),
                "speed_kmh": round(rng.uniform(30, 130), 1),
                "location": {
                    "lat": 36.65,
                    "lon": 117.12,
                    "admin_code": device[:6],
                    "road": "G2",
                    "km": 412.3,
                },
                "confidence": 0.97,
                "image_uri": f"s3://passages/{device}/{i}.jpg",
            }
            value, key, kind = orjson.dumps(p), device.encode(), "valid"
            sent.append((value, key))
        out.append(SimMessage(key=key, value=value, kind=kind))
    return out


def timedelta_zone(hours: int) -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=hours))


async def raw_copy(conn: asyncpg.Connection, rows: list[Any]) -> float:
    started = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        async with conn.transaction():
            await conn.copy_records_to_table(
                "passages", schema_name="ingest", columns=COLUMNS, records=rows[i : i + BATCH]
            )
    rate = len(rows) / (time.perf_counter() - started)
    await conn.execute("TRUNCATE ingest.passages")
    await conn.execute("CHECKPOINT")
    return rate


def stored_counter() -> Any:
    from prometheus_client import REGISTRY

    return lambda: REGISTRY.get_sample_value("qzx_ingest_passages_total", {"outcome": "stored"}) or 0.0


async def pipeline(expected: int) -> float:
    stored = stored_counter()
    base, started, first, last_report = stored(), time.perf_counter(), None, time.perf_counter()
    while stored() - base < expected:
        await asyncio.sleep(0.02)
        now = time.perf_counter()
        if first is None and stored() > base:
            first = now
        if now - last_report > 5:
            say(f"pipeline: {stored() - base:,.0f}/{expected:,} stored")
            last_report = now
        if now - started > 600:
            raise TimeoutError(f"stored {stored() - base:.0f} of {expected} in 600 s")
    return expected / (time.perf_counter() - (first or started))


async def migrate_and_partition(db: str, bootstrap: str, prefix: str) -> None:
    from qzx_common.db import create_engine
    from qzx_ingest.passages import service

    app = ingest_app(db, bootstrap, prefix, consume=False)
    async with app.router.lifespan_context(app):
        pass
    engine = create_engine(to_asyncpg_url(db), pool_size=1)
    async with engine.begin() as conn:
        await service.keep_partitions(conn, retention_days=30, ahead_days=2)
    await engine.dispose()


async def run(*, n: int, server_url: str, bootstrap: str) -> dict[str, Any]:
    prefix = f"benchp{uuid.uuid4().hex[:6]}."
    topic = prefix + CAMERA_PASSAGES
    say(f"generating {n:,} passages")
    messages = generate(n)
    rows = list({(r.passage_id, r.captured_at): r for r in (read_passage(m.value) for m in messages if m.kind == "valid")}.values())  # fmt: skip
    r: dict[str, Any] = {
        "passages": n,
        "distinct_valid": len(rows),
        "mean_bytes": sum(len(m.value) for m in messages) / n,
    }
    await ensure_topics(bootstrap, prefix=prefix)
    say("pre-filling the passage topic")
    r["produce_rate"] = await prefill(bootstrap, topic, messages)
    say("(a) raw consume")
    r["raw_consume_rate"] = await raw_consume(bootstrap, topic, n)
    async with fresh_database(server_url, "passages") as db:
        await migrate_and_partition(db, bootstrap, prefix)
        conn = await asyncpg.connect(to_plain_url(db))
        try:
            say("(b) raw COPY into ingest.passages")
            r["raw_copy_rate"] = await raw_copy(conn, rows)
            say("(c) ingest pipeline")
            app = ingest_app(db, bootstrap, prefix, migrate_on_start=False)
            async with app.router.lifespan_context(app):
                r["pipeline_rate"] = await pipeline(len(rows))
            r["stored_rows"] = await conn.fetchval("SELECT count(*) FROM ingest.passages")
            r["partitions"] = await conn.fetchval(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'ingest.passages'::regclass"
            )
        finally:
            await conn.close()
    r["pipeline_vs_raw_copy"] = r["pipeline_rate"] / r["raw_copy_rate"]
    r["pipeline_vs_raw_consume"] = r["pipeline_rate"] / r["raw_consume_rate"]
    return r


def table(r: dict[str, Any]) -> str:
    lines = [
        ("passages (distinct valid)", f"{r['passages']:,} ({r['distinct_valid']:,}), {r['mean_bytes']:.0f} B each"),
        ("(a) raw aiokafka consume", f"{r['raw_consume_rate']:>10,.0f} msg/s"),
        ("(b) raw COPY into ingest.passages", f"{r['raw_copy_rate']:>10,.0f} rows/s   ({r['partitions']} day partitions, 2 indexes + key)"),
        ("(c) ingest, passages stored", f"{r['pipeline_rate']:>10,.0f} /s       (target >= {TARGET_RATE:,})"),
        ("ratio (c) / (b) raw COPY", f"{r['pipeline_vs_raw_copy']:>10.2f}     (goal >= {GOAL_RATIO})"),
        ("ratio (c) / (a) raw consume", f"{r['pipeline_vs_raw_consume']:>10.2f}"),
        ("rows stored (each once)", f"{r['stored_rows']:>10,}"),
    ]  # fmt: skip
    body = aligned(lines)
    rate = "meets" if r["pipeline_rate"] >= TARGET_RATE else "MISSES"
    ratio = "meets" if r["pipeline_vs_raw_copy"] >= GOAL_RATIO else "MISSES"
    return f"passages benchmark\n{body}\n  => {rate} the {TARGET_RATE:,}/s target; {ratio} the {GOAL_RATIO} × raw COPY goal"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qzx_dev.bench.passages", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="30,000 passages")
    parser.add_argument("--passages", type=int, help="passages to pre-fill (default 300,000)")
    args = parser.parse_args(argv)
    n = args.passages or (30_000 if args.quick else 300_000)
    with servers("passages") as (server_url, bootstrap):
        results = run_async(run(n=n, server_url=server_url, bootstrap=bootstrap))
    results["quick"] = args.quick
    if results["stored_rows"] != results["distinct_valid"]:
        raise SystemExit(f"stored {results['stored_rows']} rows for {results['distinct_valid']} passages")
    print(table(results), flush=True)
    say(f"results written to {write_json(results, name='passages')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
