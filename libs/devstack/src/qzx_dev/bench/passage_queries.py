"""Passage queries at scale: a plate's trajectory over 30 days and its companions over one day,
from ``--passages N`` passages stored over 30 day partitions, beside the raw COPY rate that
stored them and the raw SQL time of the same reads.

    uv run python -m qzx_dev.bench.passage_queries [--quick] [--passages N]

(a) raw asyncpg COPY (binary) of N generated passages into ``ingest.passages``, day by day, at
    2,000 checkpoints, N / 40 plates (about 40 passages a plate in 30 days), then VACUUM ANALYZE;
(b) ``GET /v1/passages?plate=&since=<30 days ago>`` (the ingest app in-process, a province
    commander's token) for 200 plates: p50 / p99, beside the same SQL run on its own;
(c) ``GET /v1/passages/companions?plate=&since=&until=`` over one day, for 20 targets that each
    passed 30 checkpoints that day with a convoy of 3 plates 10–50 s behind: p50 / p99, and the
    convoy found.
Issue 21 sets 100,000,000 passages (trajectory p99 < 100 ms, companions p99 < 2 s); the default
here is 2,000,000 so that ``make bench`` stays short. Both reads walk an index per day partition,
so their cost grows with the rows a plate or a device has, not with the table: the bench prints
the scale it ran at, and runs at two scales show how the figures move.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from qzx_common.contracts.passage_reader import COLUMNS, PassageRow
from qzx_common.settings import to_plain_url
from qzx_common.web.auth import mint_token
from qzx_dev.bench import run_async, servers
from qzx_dev.bench.ingest import fresh_database, ingest_app, write_json
from qzx_dev.bench.passages import migrate_and_partition
from qzx_dev.simulator.plates import LETTERS

TRAJECTORY_P99_MS = 100
COMPANIONS_P99_MS = 2000
GOAL_PASSAGES = 100_000_000
DAYS = 30
DEVICES = [(f"37{c:02d}02-CK-{d:04d}", 36 + c / 10, 117 + d / 1000, f"37{c:02d}02") for c in range(1, 18) for d in range(118)]  # fmt: skip
CHUNK = 50_000  # rows a COPY (one transaction each)
TARGETS, CONVOY, TARGET_STOPS = 20, 3, 30


def say(text: str) -> None:
    print(f"[bench passage queries {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def plate_of(n: int) -> str:
    return f"鲁{LETTERS[n % len(LETTERS)]}{n // len(LETTERS):05d}"


def row(n: int, plate: str, device: tuple[str, float, float, str], at: datetime) -> PassageRow:
    device_id, lat, lon, admin = device
    return PassageRow(
        f"{device_id}-{n:011d}", device_id, at, plate, "blue", "car", "N", 1, 80.0, lat, lon, admin, "G2", 1.0, 0.97, None
    )  # fmt: skip


def background(n: int, *, start: datetime, seed: int = 21) -> Iterator[PassageRow]:
    """``n`` passages over ``DAYS`` days from ``start``, in time order, random plates and devices."""
    rng = random.Random(seed)
    plates = max(1_000, n // 40)
    span = DAYS * 86400
    for i in range(n):
        at = start + timedelta(seconds=span * i / n)
        yield row(i, plate_of(rng.randrange(plates)), DEVICES[rng.randrange(len(DEVICES))], at)


def convoys(*, day: datetime, first_plate: int) -> tuple[list[PassageRow], list[tuple[str, set[str]]]]:
    """Each target's day at ``TARGET_STOPS`` checkpoints with its convoy; (rows, [(target, convoy)])."""
    rng = random.Random(7)
    rows: list[PassageRow] = []
    targets: list[tuple[str, set[str]]] = []
    for t in range(TARGETS):
        target = plate_of(first_plate + t * (CONVOY + 1))
        convoy = {plate_of(first_plate + t * (CONVOY + 1) + k) for k in range(1, CONVOY + 1)}
        targets.append((target, convoy))
        for stop in range(TARGET_STOPS):
            device = DEVICES[rng.randrange(len(DEVICES))]
            at = day + timedelta(seconds=3600 + stop * 2400 + rng.uniform(0, 600))
            rows.append(row(10**10 + len(rows), target, device, at))
            for k, plate in enumerate(sorted(convoy)):
                rows.append(row(10**10 + len(rows), plate, device, at + timedelta(seconds=10 + 13 * k)))
    return rows, targets


async def copy_all(conn: asyncpg.Connection, rows: Iterator[PassageRow], n: int) -> float:
    started, done, last = time.perf_counter(), 0, time.perf_counter()
    while True:
        chunk = [r for _, r in zip(range(CHUNK), rows, strict=False)]
        if not chunk:
            break
        async with conn.transaction():
            await conn.copy_records_to_table("passages", schema_name="ingest", columns=COLUMNS, records=chunk)
        done += len(chunk)
        if time.perf_counter() - last > 10:
            say(f"stored {done:,}/{n:,}")
            last = time.perf_counter()
    return done / (time.perf_counter() - started)


def percentiles(samples: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples), q[98]


async def timed_get(client: httpx.AsyncClient, path: str, params: dict[str, Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    r = await client.get(path, params=params)
    took = (time.perf_counter() - started) * 1000
    assert r.status_code == 200, r.text
    return took, r.json()


_TRAJECTORY_SQL = (
    "SELECT * FROM ingest.passages WHERE plate = $1 AND captured_at >= $2 AND admin_code LIKE '37%' "
    "ORDER BY captured_at DESC, passage_id DESC LIMIT 500"
)


async def run(*, n: int, server_url: str, bootstrap: str) -> dict[str, Any]:
    prefix = f"benchq{uuid.uuid4().hex[:6]}."
    now = datetime.now(UTC)
    start = now - timedelta(days=DAYS) + timedelta(minutes=5)
    r: dict[str, Any] = {"passages": n, "plates": max(1_000, n // 40)}
    async with fresh_database(server_url, "queries") as db:
        await migrate_and_partition(db, bootstrap, prefix)
        conn = await asyncpg.connect(to_plain_url(db))
        try:
            say(f"(a) COPY of {n:,} passages over {DAYS} days")
            r["raw_copy_rate"] = await copy_all(conn, background(n, start=start), n)
            day = (now - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            extra, targets = convoys(day=day, first_plate=r["plates"])
            await conn.copy_records_to_table("passages", schema_name="ingest", columns=COLUMNS, records=extra)
            say("VACUUM ANALYZE, CHECKPOINT")
            await conn.execute("VACUUM ANALYZE ingest.passages")
            await conn.execute("CHECKPOINT")
            r["stored_rows"] = await conn.fetchval("SELECT count(*) FROM ingest.passages")
            r["table_gib"] = await conn.fetchval(
                "SELECT sum(pg_total_relation_size(inhrelid)) / 2^30 FROM pg_inherits "
                "WHERE inhparent = 'ingest.passages'::regclass"
            )
            rng = random.Random(3)
            plates = [plate_of(rng.randrange(r["plates"])) for _ in range(200)]
            since = now - timedelta(days=DAYS)
            raw_ms = []
            for plate in plates:
                started = time.perf_counter()
                await conn.fetch(_TRAJECTORY_SQL, plate, since)
                raw_ms.append((time.perf_counter() - started) * 1000)
            r["raw_trajectory_p50_ms"], r["raw_trajectory_p99_ms"] = percentiles(raw_ms)
        finally:
            await conn.close()
        app = ingest_app(db, bootstrap, prefix, consume=False, migrate_on_start=False)
        async with app.router.lifespan_context(app):
            token = mint_token(
                secret=app.state.settings.jwt_secret, sub="bench", role="province_commander", jur="37"
            )
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://ingest",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            ) as client:
                say("(b) trajectories over 30 days")
                took, rows = [], 0
                for plate in plates:
                    ms, body = await timed_get(client, "/v1/passages", {"plate": plate, "since": since.isoformat(), "limit": 500})  # fmt: skip
                    took.append(ms)
                    rows += len(body["items"])
                r["trajectory_p50_ms"], r["trajectory_p99_ms"] = percentiles(took)
                r["trajectory_mean_rows"] = rows / len(plates)
                say("(c) companions over one day")
                took, found = [], 0
                for target, convoy in targets:
                    params = {"plate": target, "since": day.isoformat(), "until": (day + timedelta(days=1)).isoformat()}  # fmt: skip
                    ms, body = await timed_get(client, "/v1/passages/companions", {**params, "min_count": 5})
                    took.append(ms)
                    found += convoy <= {c["plate"] for c in body["items"][: CONVOY + 2]}
                r["companions_p50_ms"], r["companions_p99_ms"] = percentiles(took)
                r["convoys_found"] = found
    r["trajectory_vs_raw_sql_p99"] = r["trajectory_p99_ms"] / r["raw_trajectory_p99_ms"]
    return r


def table(r: dict[str, Any]) -> str:
    lines = [
        ("passages stored (plates)", f"{r['stored_rows']:,} ({r['plates']:,}) in {DAYS} day partitions, {r['table_gib']:.1f} GiB with indexes"),
        ("(a) raw COPY into ingest.passages", f"{r['raw_copy_rate']:>10,.0f} rows/s"),
        ("raw SQL trajectory, 30 days", f"p50 {r['raw_trajectory_p50_ms']:6.1f} ms  p99 {r['raw_trajectory_p99_ms']:6.1f} ms"),
        ("(b) GET trajectory, 30 days", f"p50 {r['trajectory_p50_ms']:6.1f} ms  p99 {r['trajectory_p99_ms']:6.1f} ms  (goal p99 < {TRAJECTORY_P99_MS}; {r['trajectory_mean_rows']:.0f} passages each; {r['trajectory_vs_raw_sql_p99']:.1f} × raw SQL)"),
        ("(c) GET companions, one day", f"p50 {r['companions_p50_ms']:6.1f} ms  p99 {r['companions_p99_ms']:6.1f} ms  (goal p99 < {COMPANIONS_P99_MS}; convoy found for {r['convoys_found']}/{TARGETS})"),
    ]  # fmt: skip
    width = max(len(k) for k, _ in lines)
    body = "\n".join(f"  {k:<{width}}  {v}" for k, v in lines)
    ok = r["trajectory_p99_ms"] < TRAJECTORY_P99_MS and r["companions_p99_ms"] < COMPANIONS_P99_MS
    scale = (
        ""
        if r["passages"] >= GOAL_PASSAGES
        else f" at {r['passages']:,} of the {GOAL_PASSAGES:,} passages set"
    )
    return f"passage queries benchmark\n{body}\n  => {'meets' if ok else 'MISSES'} the query goals{scale}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qzx_dev.bench.passage_queries", description=__doc__.split("\n")[0])  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="500,000 passages")
    parser.add_argument(
        "--passages", type=int, help="passages stored (default 2,000,000; issue 21: 100,000,000)"
    )
    args = parser.parse_args(argv)
    n = args.passages or (500_000 if args.quick else 2_000_000)
    with servers("passage-queries") as (server_url, bootstrap):
        results = run_async(run(n=n, server_url=server_url, bootstrap=bootstrap))
    results["quick"] = args.quick
    print(table(results), flush=True)
    say(f"results written to {write_json(results, name='passage_queries')}")
    return 0 if results["convoys_found"] == TARGETS else 1


if __name__ == "__main__":
    sys.exit(main())
