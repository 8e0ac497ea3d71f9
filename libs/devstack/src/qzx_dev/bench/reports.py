"""Reports benchmark: the province's monthly report (日盯办、周调度、月研判) beside a raw scan, one run.

    uv run python -m qzx_dev.bench.reports [--quick] [--by-query]

Data: a province's year at about 10 million violations and 30,000 accidents: the report's month
and the month before it hold 830,000 stored sightings each (--quick 100,000), 200,000 alerts each
(--quick 25,000) with their loop times; two years of accident facts (30,000 a year, so the month
and the same month last year hold about 2,500 each); 2,000 hazard points in the workflow's states.
The report month is last calendar month (local time).

Timed: ``GET /v1/reports/monthly?admin_code=37`` (every figure: events, loop, accidents year on
year, hazards, the city league with its scores, hotspots, repeat offenders, the previous month),
through the real app in-process, p50/p99 of 30 requests (--quick 10) after 3 untimed; beside the
raw baseline, one ``count(*)`` over the month's sightings (the least any report of the month
reads), timed the same way. Target: the report's p99 < 500 ms.
Reads QZX_DATABASE_URL / QZX_KAFKA_BOOTSTRAP (the app's runtime connects to it); starts embedded
servers for what is unset.
"""

from __future__ import annotations

import argparse
import functools
import random
import time
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from qzx_dev.bench.alerts_data import VIOLATIONS, devices, log, pct, plates, settle

CST = timezone(timedelta(hours=8))
ACCIDENTS_A_YEAR = 30_000
HAZARDS = 2_000
WARM_UP = 3
CHUNK = 100_000
SIGHTING_COLUMNS = ["event_id", "plate", "violation", "device_id", "lat", "lon", "admin_code", "captured_at"]
ALERT_COLUMNS = [
    "id", "kind", "dedup_key", "status", "priority", "score", "factors", "violations", "plates",
    "admin_code", "city_code", "lat", "lon", "first_seen", "last_seen", "count", "event_ids",
    "rules_version", "dispatched_at", "signed_at", "resolved_at", "outcome",
]  # fmt: skip
ACCIDENT_COLUMNS = [
    "accident_id", "occurred_at", "admin_code", "lat", "lon", "road", "road_feature", "severity",
    "injured", "killed", "ebike_involved", "rural",
]  # fmt: skip
HAZARD_STATES = ("identified", "assigned", "rectifying", "rectified", "verified", "reopened")


def report_month(today: date) -> tuple[datetime, datetime, datetime]:
    """(first of the month before last, first of last month, first of this month), local time."""
    this = today.replace(day=1)
    last = (this - timedelta(days=1)).replace(day=1)
    before = (last - timedelta(days=1)).replace(day=1)
    return tuple(datetime(d.year, d.month, d.day, tzinfo=CST) for d in (before, last, this))  # type: ignore[return-value]


def _at(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + timedelta(seconds=rng.uniform(0, (end - start).total_seconds()))


async def _copy(conn: Any, table: str, columns: list[str], rows: Any, n: int) -> None:
    done = 0
    while done < n:
        chunk = [next(rows) for _ in range(min(CHUNK, n - done))]
        await conn.copy_records_to_table(table, schema_name="alerts", records=chunk, columns=columns)
        done += len(chunk)
        log(f"COPY {table} {done:,}/{n:,}")


async def load(dsn: str, *, per_month: int, alerts_per_month: int, months: tuple[datetime, ...]) -> None:
    import asyncpg

    rng = random.Random(11)
    devs = devices()
    pool = plates(per_month // 4, rng)
    start, end = months[0], months[2]

    def sightings() -> Any:
        for i in range(2 * per_month):
            d = rng.choice(devs)
            at = _at(rng, start, end)
            yield (
                f"rp-{i}",
                rng.choice(pool),
                rng.choice(VIOLATIONS),
                d.device_id,
                d.lat,
                d.lon,
                d.admin_code,
                at,
            )

    def alerts() -> Any:
        for i in range(2 * alerts_per_month):
            d = rng.choice(devs)
            seen = _at(rng, start, end)
            handled = rng.random() < 0.6
            dispatched = (
                seen + timedelta(seconds=rng.uniform(5, 120)) if handled or rng.random() < 0.5 else None
            )
            yield (
                f"ra-{i:08d}", "violation", f"r:{i}", "resolved" if handled else "new",
                rng.choice(("P1", "P2", "P3", "P4")), 50.0, "[]", [rng.choice(VIOLATIONS)], [], d.admin_code,
                d.admin_code[:4], d.lat, d.lon, seen, seen, 1, [f"rp-{i}"], "bench", dispatched,
                dispatched + timedelta(seconds=rng.uniform(10, 300)) if dispatched else None,
                seen + timedelta(seconds=rng.uniform(600, 3600)) if handled else None,
                "ticketed" if handled else None,
            )  # fmt: skip

    def accidents() -> Any:
        first = end - timedelta(days=2 * 365)
        for i in range(2 * ACCIDENTS_A_YEAR):
            d = rng.choice(devs)
            severity = rng.choices(("property_only", "injury", "fatal"), weights=(70, 25, 5))[0]
            killed = rng.choice((1, 1, 1, 2, 3)) if severity == "fatal" else 0
            injured = rng.randint(1, 3) if severity == "injury" else 0
            yield (
                f"racc-{i}", _at(rng, first, end), d.admin_code, d.lat, d.lon, d.road,
                rng.choice(("junction", "straight", "curve", "road_market", "level_crossing")), severity,
                injured, killed, rng.random() < 0.3, rng.random() < 0.45,
            )  # fmt: skip

    conn = await asyncpg.connect(dsn)
    try:
        await _copy(conn, "sightings", SIGHTING_COLUMNS, sightings(), 2 * per_month)
        await _copy(conn, "alerts", ALERT_COLUMNS, alerts(), 2 * alerts_per_month)
        await _copy(conn, "accident_facts", ACCIDENT_COLUMNS, accidents(), 2 * ACCIDENTS_A_YEAR)
        hazard_columns = {
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'alerts' AND table_name = 'hazards'"
            )
        }
        for i in range(HAZARDS):
            d = rng.choice(devs)
            created = _at(rng, end - timedelta(days=365), end)
            row = {
                "id": f"hz-bench-{i}", "name": f"bench hazard {i}", "lat": d.lat, "lon": d.lon,
                "radius_m": 300.0, "risk_level": "medium", "status": "new", "admin_code": d.admin_code,
                "created_by": "bench", "created_at": created, "updated_at": created,
                "owner_code": d.admin_code, "state": rng.choice(HAZARD_STATES),
                "deadline": created + timedelta(days=30), "rectified_at": created + timedelta(days=20),
            }  # fmt: skip
            row = {k: v for k, v in row.items() if k in hazard_columns}
            names = ", ".join(row)
            marks = ", ".join(f"${n}" for n in range(1, len(row) + 1))
            await conn.execute(f"INSERT INTO alerts.hazards ({names}) VALUES ({marks})", *row.values())
        log(f"{HAZARDS:,} hazard points")
        # what the service's fold would do in its first seconds, done before the timing
        from qzx_alerts.reports.repository import fold_rollups

        async with conn.transaction():
            await fold_rollups(conn)
        log("rollups folded")
        await settle(conn)
    finally:
        await conn.close()


def time_each_query() -> dict[str, list[float]]:
    """Wrap every query function of the report (``reports.repository``, the league) to record its
    times in seconds: where a report's time goes."""
    import asyncio

    from qzx_alerts.reports import league, repository

    times: dict[str, list[float]] = {}

    def timed(module: Any, name: str) -> None:
        f = getattr(module, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return await f(*args, **kwargs)
            finally:
                times.setdefault(name, []).append(time.perf_counter() - t)

        setattr(module, name, call)

    for name in dir(repository):
        if not name.startswith("_") and asyncio.iscoroutinefunction(getattr(repository, name)):
            timed(repository, name)
    timed(league, "league_and_total")
    return times


async def time_report(
    url: str, bootstrap: str, *, requests: int, day: date, month: tuple[datetime, datetime]
) -> dict[str, Any]:
    import httpx

    from qzx_alerts.main import create_app
    from qzx_alerts.settings import AlertsSettings
    from qzx_common.db import driver_connection
    from qzx_common.web.auth import mint_token

    settings = AlertsSettings(
        database_url=url, kafka_bootstrap=bootstrap, topic_prefix="bench.", log_json=False
    )
    app = create_app(settings, consume=False)
    out: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        async with app.state.runtime.engine.connect() as conn:
            raw = await driver_connection(conn)
            query = "SELECT count(*) FROM alerts.sightings WHERE captured_at >= $1 AND captured_at < $2"
            samples = []
            for i in range(WARM_UP + requests):
                t = time.perf_counter()
                out["month_sightings"] = await raw.fetchval(query, *month)
                if i >= WARM_UP:
                    samples.append(time.perf_counter() - t)
            out["raw"] = samples
        token = mint_token(secret=settings.jwt_secret, sub="bench", role="province_commander", jur="37")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://alerts",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        ) as c:
            samples = []
            for i in range(WARM_UP + requests):
                t = time.perf_counter()
                r = await c.get("/v1/reports/monthly", params={"date": day.isoformat(), "admin_code": "37"})
                elapsed = time.perf_counter() - t
                assert r.status_code == 200, r.text
                if i >= WARM_UP:
                    samples.append(elapsed)
            report = r.json()
            out["report"] = samples
            out["figures"] = (
                report["events"]["total"],
                report["alerts"]["raised"],
                report["accidents"]["total"],
                report["accidents"]["last_year"]["accidents"],
                len(report["league"]["items"]),
            )
            log(f"monthly report p99 {pct(samples, 0.99):.0f} ms")
    return out


async def run(quick: bool, by_query: bool, dsn: str, url: str, bootstrap: str) -> None:
    from qzx_alerts.main import MIGRATIONS
    from qzx_common.db import migrate

    per_month, alerts_per_month, requests = (100_000, 25_000, 10) if quick else (830_000, 200_000, 30)
    months = report_month(datetime.now(UTC).astimezone(CST).date())
    await migrate(url=url, migrations_dir=MIGRATIONS, schema="alerts")
    print(
        f"loading {2 * per_month:,} sightings, {2 * alerts_per_month:,} alerts, "
        f"{2 * ACCIDENTS_A_YEAR:,} accidents, {HAZARDS:,} hazards",
        flush=True,
    )
    await load(dsn, per_month=per_month, alerts_per_month=alerts_per_month, months=months)
    queries = time_each_query() if by_query else {}
    got = await time_report(
        url, bootstrap, requests=requests, day=months[1].date(), month=(months[1], months[2])
    )
    events, raised, accidents, last_year, cities = got["figures"]
    raw_p99 = pct(got["raw"], 0.99)
    print(f"\nreports benchmark ({'quick' if quick else 'full'}; month {months[1]:%Y-%m}, province)")
    print(
        f"  the month: {events:,} events, {raised:,} alerts raised, {accidents:,} accidents "
        f"(last year {last_year:,}), {cities} cities in the league"
    )
    print(f"{'query':<60} {'p50 ms':>8} {'p99 ms':>8} {'p99 vs raw':>11}")
    for name, samples in (
        ("raw: count(*) of the month's sightings", got["raw"]),
        ("GET /v1/reports/monthly?admin_code=37", got["report"]),
    ):
        print(
            f"{name:<60} {pct(samples, 0.5):>8.0f} {pct(samples, 0.99):>8.0f} {pct(samples, 0.99) / raw_p99:>10.1f}x"
        )
    print("(target: the province's monthly report p99 < 500 ms)")
    if queries:
        print(f"\n{'query of the report (warm-up included)':<40} {'calls':>6} {'p50 ms':>8} {'total s':>8}")
        for name, seconds in sorted(queries.items(), key=lambda q: -sum(q[1])):
            print(f"{name:<40} {len(seconds):>6} {pct(seconds, 0.5):>8.1f} {sum(seconds):>8.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qzx_dev.bench.reports")
    parser.add_argument("--quick", action="store_true", help="smaller data sets")
    parser.add_argument("--by-query", action="store_true", help="also time each query of the report")
    args = parser.parse_args(argv)
    from qzx_dev.bench import run_on_fresh_database

    run_on_fresh_database("reports", functools.partial(run, args.quick, args.by_query))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
