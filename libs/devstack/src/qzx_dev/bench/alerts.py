"""Alerts benchmark: scoring throughput and the list API's latency beside raw baselines, one run.

    uv run python -m qzx_dev.bench.alerts [--quick]

(a) raw COPY rate, bulk-loading the stored sightings (1,000,000; --quick 200,000);
(b) raw multi-row INSERT rate (unnest, batches of 2,000) into a table shaped like sightings;
(c) scoring throughput: ``apply_violation_batch`` on batches of 2,000 accepted events whose plates
    recur in the stored history (repeat-offender counts, clone checks, travel times, racing groups,
    hotlists, hazards, dedup, upserts, change log and outbox all included), per process;
(d) ``GET /v1/alerts`` with filters over 1,000,000 stored alerts (--quick 100,000): p50/p99 per
    filter, through the real app in-process, beside a raw primary-key SELECT round trip.
Reads QZX_DATABASE_URL / QZX_KAFKA_BOOTSTRAP; starts embedded servers for what is unset.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

VIOLATIONS = (
    "drunk_driving",
    "speeding",
    "overload",
    "red_light",
    "wrong_way",
    "noise_modified",
    "street_racing",
)
PLATE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def log(msg: str) -> None:
    print(f"  {msg}", flush=True)


def plates(n: int, rng: random.Random) -> list[str]:
    return ["鲁" + rng.choice("ABCDEFGHJKLMNPQR") + "".join(rng.choices(PLATE_CHARS, k=5)) for _ in range(n)]


def devices() -> list[Any]:
    from qzx_common.contracts.devices import DEVICES

    return list(DEVICES)


async def bulk_load_sightings(dsn: str, n: int, pool: list[str], rng: random.Random) -> float:
    import asyncpg

    devs = devices()
    now = datetime.now(UTC)
    conn = await asyncpg.connect(dsn)
    started, done, chunk = time.perf_counter(), 0, 100_000
    try:
        while done < n:
            rows = []
            for i in range(done, min(n, done + chunk)):
                d = rng.choice(devs)
                rows.append(
                    (
                        f"hist-{i}",
                        rng.choice(pool),
                        rng.choice(VIOLATIONS[:5]),
                        d.device_id,
                        d.lat,
                        d.lon,
                        d.admin_code,
                        now - timedelta(seconds=rng.randrange(30 * 86400)),
                        None,
                        "car",
                        None,
                    )
                )
            await conn.copy_records_to_table(
                "sightings",
                schema_name="alerts",
                records=rows,
                columns=[
                    "event_id",
                    "plate",
                    "violation",
                    "device_id",
                    "lat",
                    "lon",
                    "admin_code",
                    "captured_at",
                    "group_key",
                    "vehicle_class",
                    "measurements",
                ],
            )
            done += len(rows)
            log(f"COPY sightings {done:,}/{n:,}")
        elapsed = time.perf_counter() - started
        await conn.execute("ANALYZE alerts.sightings")
    finally:
        await conn.close()
    return n / elapsed


async def raw_insert_rate(dsn: str, n: int, rng: random.Random) -> float:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS alerts.bench_raw (event_id text PRIMARY KEY, plate text, violation text, "
            "device_id text, captured_at timestamptz)"
        )
        now = datetime.now(UTC)
        started = time.perf_counter()
        for _ in range(0, n, 2000):
            ids = [f"raw-{uuid.uuid4().hex}" for _ in range(2000)]
            await conn.execute(
                "INSERT INTO alerts.bench_raw SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
                "$5::timestamptz[]) ON CONFLICT DO NOTHING",
                ids,
                ["鲁A00000"] * 2000,
                ["speeding"] * 2000,
                ["dev"] * 2000,
                [now] * 2000,
            )
        return n / (time.perf_counter() - started)
    finally:
        await conn.execute("DROP TABLE IF EXISTS alerts.bench_raw")
        await conn.close()


def accepted_events(n: int, pool: list[str], rng: random.Random) -> list[bytes]:
    devs = devices()
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        d = rng.choice(devs)
        v = rng.choice(VIOLATIONS)
        m: dict[str, Any] = {
            "drunk_driving": {"bac_mg_100ml": rng.choice((35, 92))},
            "speeding": {"speed_kmh": 140, "speed_limit_kmh": 100},
            "overload": {"gross_weight_kg": 70000, "weight_limit_kg": 49000},
            "noise_modified": {"noise_db": 101},
        }.get(v, {})
        e = {
            "event_id": f"bench-{i}-{uuid.uuid4().hex[:8]}",
            "device_id": d.device_id,
            "violation": v,
            "captured_at": (now - timedelta(seconds=rng.randrange(3600))).isoformat(),
            "plate": rng.choice(pool),
            "vehicle_class": "car",
            "location": {"lat": d.lat, "lon": d.lon, "admin_code": d.admin_code, "road": d.road, "km": d.km},
            "measurements": m,
            "confidence": 0.95,
        }
        out.append(orjson.dumps(e))
    return out


async def scoring_rate(url: str, values: list[bytes]) -> tuple[float, int]:
    from qzx_alerts.hazards.cache import HazardCache
    from qzx_alerts.scoring.rules import load_rules
    from qzx_alerts.scoring.service import apply_violation_batch
    from qzx_common.db import create_engine

    engine = create_engine(url, pool_size=2)
    rules, hazards = load_rules(), HazardCache(max_age_s=5)
    written = 0
    try:
        started = time.perf_counter()
        for b in range(0, len(values), 2000):
            async with engine.begin() as conn:
                r = await apply_violation_batch(
                    conn, values=values[b : b + 2000], rules=rules, hazards=hazards, topic_prefix="bench."
                )
            written += r.alerts_written
            if (b // 2000) % 5 == 4:
                log(
                    f"scored {b + 2000:,}/{len(values):,} ({(b + 2000) / (time.perf_counter() - started):,.0f}/s)"
                )
        return len(values) / (time.perf_counter() - started), written
    finally:
        await engine.dispose()


async def bulk_load_alerts(dsn: str, n: int, rng: random.Random) -> None:
    import asyncpg

    devs = devices()
    now = datetime.now(UTC)
    statuses = ("new",) * 3 + ("dispatched", "signed", "resolved", "resolved", "dismissed", "escalated")
    conn = await asyncpg.connect(dsn)
    try:
        for start in range(0, n, 100_000):
            rows: list[tuple[Any, ...]] = []
            for i in range(start, min(n, start + 100_000)):
                d = rng.choice(devs)
                seen = now - timedelta(seconds=rng.randrange(60 * 86400))
                v = rng.choice(VIOLATIONS)
                rows.append(
                    (
                        f"al-{i:08d}",
                        "violation",
                        f"v:{i}",
                        rng.choice(statuses),
                        rng.choice(("P1", "P2", "P2", "P3", "P3", "P4")),
                        50.0,
                        "[]",
                        [v],
                        None,
                        [],
                        d.admin_code,
                        d.admin_code[:4],
                        d.lat,
                        d.lon,
                        seen,
                        seen,
                        1,
                        [f"ev-{i}"],
                        "bench",
                    )
                )
            await conn.copy_records_to_table(
                "alerts",
                schema_name="alerts",
                records=rows,
                columns=[
                    "id",
                    "kind",
                    "dedup_key",
                    "status",
                    "priority",
                    "score",
                    "factors",
                    "violations",
                    "plate",
                    "plates",
                    "admin_code",
                    "city_code",
                    "lat",
                    "lon",
                    "first_seen",
                    "last_seen",
                    "count",
                    "event_ids",
                    "rules_version",
                ],
            )
            log(f"COPY alerts {min(n, start + 100_000):,}/{n:,}")
        await conn.execute("ANALYZE alerts.alerts")
    finally:
        await conn.close()


def pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(p * len(s)))] * 1000


async def list_latency(settings: Any, requests: int) -> list[tuple[str, float, float]]:
    import httpx

    from qzx_alerts.main import create_app
    from qzx_common.kafka.outbox import driver_connection
    from qzx_common.web.auth import mint_token

    app = create_app(settings, consume=False)
    filters = [
        ("(none, province)", {}, "37"),
        ("status=new", {"status": "new"}, "37"),
        ("priority=P1", {"priority": "P1"}, "37"),
        ("violation=drunk_driving", {"violation": "drunk_driving"}, "37"),
        ("admin_code=3701 (city token)", {}, "3701"),
        (
            "status+priority+violation, city",
            {"status": "new", "priority": "P1", "violation": "overload"},
            "3702",
        ),
        ("admin_code=370102 + P2", {"admin_code": "370102", "priority": "P2"}, "37"),
    ]
    results = []
    async with app.router.lifespan_context(app):
        async with app.state.runtime.engine.connect() as conn:
            raw = await driver_connection(conn)
            samples = []
            for _ in range(requests):
                t = time.perf_counter()
                await raw.fetchrow(
                    "SELECT id FROM alerts.alerts WHERE id = $1", f"al-{random.randrange(1000):08d}"
                )
                samples.append(time.perf_counter() - t)
            results.append(("raw: SELECT by primary key", pct(samples, 0.5), pct(samples, 0.99)))
        for name, params, jur in filters:
            token = mint_token(secret=settings.jwt_secret, sub="bench", role="dispatcher", jur=jur)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://alerts",
                headers={"Authorization": f"Bearer {token}"},
            ) as c:
                samples, cursor = [], None
                for i in range(requests):
                    q: dict[str, Any] = dict(params, limit=50)
                    if cursor and i % 2:
                        q["cursor"] = cursor  # half the requests page on
                    t = time.perf_counter()
                    r = await c.get("/v1/alerts", params=q)
                    samples.append(time.perf_counter() - t)
                    assert r.status_code == 200, r.text
                    cursor = r.json()["next_cursor"]
            results.append((f"GET /v1/alerts {name}", pct(samples, 0.5), pct(samples, 0.99)))
            log(f"{name}: p99 {results[-1][2]:.1f} ms")
    return results


async def run(quick: bool, dsn: str, url: str, bootstrap: str) -> None:
    from qzx_alerts.main import MIGRATIONS
    from qzx_alerts.settings import AlertsSettings
    from qzx_common.db import migrate

    rng = random.Random(7)
    n_hist, n_events, n_alerts, n_requests = (
        (200_000, 20_000, 100_000, 100) if quick else (1_000_000, 100_000, 1_000_000, 300)
    )
    await migrate(url=url, migrations_dir=MIGRATIONS, schema="alerts")
    pool = plates(n_hist // 5, rng)
    print(f"(a) bulk-loading {n_hist:,} sightings with COPY", flush=True)
    copy_rate = await bulk_load_sightings(dsn, n_hist, pool, rng)
    print("(b) raw INSERT rate", flush=True)
    insert_rate = await raw_insert_rate(dsn, 40_000 if quick else 100_000, rng)
    print(f"(c) scoring {n_events:,} events against the history", flush=True)
    values = accepted_events(n_events, pool, rng)
    score_rate, written = await scoring_rate(url, values)
    print(f"(d) bulk-loading {n_alerts:,} alerts, then timing the list API", flush=True)
    await bulk_load_alerts(dsn, n_alerts, rng)
    settings = AlertsSettings(
        database_url=url, kafka_bootstrap=bootstrap, topic_prefix="bench.", log_json=False
    )
    latencies = await list_latency(settings, n_requests)

    print(
        f"\nalerts benchmark ({'quick' if quick else 'full'}; {n_hist:,} stored sightings, {n_alerts:,} alerts)"
    )
    print(f"{'measure':<52} {'value':>14} {'vs raw':>10}")
    print(f"{'raw COPY into sightings (rows/s)':<52} {copy_rate:>14,.0f} {'1.00':>10}")
    print(f"{'raw INSERT unnest, 2,000/batch (rows/s)':<52} {insert_rate:>14,.0f} {'1.00':>10}")
    print(
        f"{'scoring incl. history lookups (events/s, 1 process)':<52} {score_rate:>14,.0f} "
        f"{score_rate / insert_rate:>9.2f}x  (target ≥ 10,000/s; {written:,} alert writes)"
    )
    raw_p99 = latencies[0][2]
    print(f"\n{'query':<52} {'p50 ms':>8} {'p99 ms':>8} {'p99 vs raw':>11}")
    for name, p50, p99 in latencies:
        print(f"{name:<52} {p50:>8.1f} {p99:>8.1f} {p99 / raw_p99:>10.1f}x")
    print("(target: GET /v1/alerts p99 < 50 ms)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qzx_dev.bench.alerts")
    parser.add_argument("--quick", action="store_true", help="smaller data sets")
    args = parser.parse_args(argv)
    import os

    from qzx_common.settings import to_asyncpg_url, to_plain_url
    from qzx_dev.embedded import create_database, drop_database, free_port, start_broker, start_postgres

    started: list[Any] = []
    state = Path(tempfile.mkdtemp(prefix="qzx-bench-alerts-"))
    try:
        server = os.environ.get("QZX_DATABASE_URL")
        if not server:
            pg = start_postgres(data_dir=state / "pg", port=free_port(), log_path=state / "pg.log")
            started.append(pg)
            server = pg.url()
        bootstrap = os.environ.get("QZX_KAFKA_BOOTSTRAP")
        if not bootstrap:
            broker = start_broker(port=free_port(), log_path=state / "broker.log")
            started.append(broker)
            bootstrap = broker.bootstrap
        name = f"qzx_bench_alerts_{uuid.uuid4().hex[:8]}"
        db = create_database(server, name)
        try:
            asyncio.run(run(args.quick, to_plain_url(db), to_asyncpg_url(db), bootstrap))
        finally:
            drop_database(server, name)
    finally:
        for s in reversed(started):
            s.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
