"""Black-spot benchmark: a province's year of accidents and violations, analysed in alerts.

    uv run python -m qzx_dev.bench.blackspots [--quick] [--accidents N] [--violations N]

Data: ``--accidents`` (30,000) over a year across the 16 cities, 40 % of them at 600 places
(tens of metres across) and the rest scattered; ``--violations`` (10,000,000) at 8,000 fixed
cameras over the same year, counted per cell and day as the ``qzx-alerts-blackspots`` consumer
keeps them (``violation_cells``), bulk-loaded with COPY.

(a) raw baseline: the raw SELECTs of the analysis's points (the year's accident points and the
    violations summed per cell), asyncpg, nothing else;
(b) the analysis as a run executes it (``qzx_alerts.blackspots.service.execute``): load, DBSCAN,
    measure and match, proposals stored; from start to ``done``;
(c) counting: the cell consumer's transaction (``blackspots.cells.apply``) over batches of 500
    violation events, events/s (it runs as violations arrive, not at analysis time).
The target (issue 20) is (b) under 60 s; the ratio (b) / (a) shows what the clustering adds.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np
import orjson

from qzx_common.contracts.geo import CITIES
from qzx_common.settings import to_asyncpg_url, to_plain_url
from qzx_dev.bench import aligned, run_async, servers
from qzx_dev.bench.ingest import fresh_database, write_json

TARGET_S = 60.0
YEAR = datetime(2025, 1, 1, tzinfo=UTC)
CAMERAS = 8000
HOTSPOTS = 600


def say(text: str) -> None:
    print(f"[bench blackspots {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _places(rng: np.random.Generator, n: int, spread_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` points around the cities' centres: lat, lon and each one's city index."""
    city = rng.integers(0, len(CITIES), n)
    lat = np.array([CITIES[c].lat for c in city]) + rng.normal(0, spread_deg, n)
    lon = np.array([CITIES[c].lon for c in city]) + rng.normal(0, spread_deg, n)
    return lat, lon, city


def hazard_rows(hotspots: tuple[np.ndarray, np.ndarray, np.ndarray]) -> list[tuple[Any, ...]]:
    """Every other hotspot is a hazard the ledger knows already (its proposals are 存量)."""
    lat, lon, city = hotspots
    return [
        (
            f"hz-bench-{i:04d}",
            "bench",
            float(lat[i]),
            float(lon[i]),
            150.0,
            "high",
            "stock",
            code,
            code,
            "bench",
        )
        for i in range(0, HOTSPOTS, 2)
        for code in [f"{CITIES[int(city[i])].code[:4]}02"]
    ]


def accident_rows(
    n: int, rng: np.random.Generator, hotspots: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> list[tuple[Any, ...]]:
    h_lat, h_lon, h_city = hotspots
    at_hotspot = rng.random(n) < 0.4
    which = rng.integers(0, HOTSPOTS, n)
    s_lat, s_lon, s_city = _places(rng, n, 0.3)
    lat = np.where(at_hotspot, h_lat[which] + rng.normal(0, 0.0003, n), s_lat)
    lon = np.where(at_hotspot, h_lon[which] + rng.normal(0, 0.0003, n), s_lon)
    city = np.where(at_hotspot, h_city[which], s_city)
    seconds = rng.integers(0, 365 * 86400, n)
    injured = rng.poisson(0.6, n)
    rows = []
    for i in range(n):
        hurt = int(injured[i])
        rows.append(
            (
                f"bench-{i:07d}",
                YEAR + timedelta(seconds=int(seconds[i])),
                f"{CITIES[int(city[i])].code[:4]}02",
                float(lat[i]),
                float(lon[i]),
                None,
                "junction",
                "injury" if hurt else "property_only",
                hurt,
                0,
                False,
                False,
            )
        )
    return rows


def cell_rows(n: int, rng: np.random.Generator) -> list[tuple[Any, ...]]:
    """``n`` violations at fixed cameras (a few busy, most quiet), as per-cell, per-day counts."""
    from qzx_alerts.blackspots.analysis import CELL_DEGREES

    c_lat, c_lon, c_city = _places(rng, CAMERAS, 0.3)
    lat_q = np.round(c_lat / CELL_DEGREES).astype(np.int64)
    lon_q = np.round(c_lon / CELL_DEGREES).astype(np.int64)
    cells, camera_cell = np.unique(lat_q * 1_000_000 + lon_q, return_inverse=True)
    weight = rng.pareto(1.2, CAMERAS) + 1
    camera = rng.choice(CAMERAS, size=n, p=weight / weight.sum())
    day = rng.integers(0, 365, n)
    keys, counts = np.unique(camera_cell[camera] * 366 + day, return_counts=True)
    city_of_cell = {int(camera_cell[i]): int(c_city[i]) for i in range(CAMERAS)}
    rows = []
    for key, count in zip(keys.tolist(), counts.tolist(), strict=True):
        cell, d = divmod(key, 366)
        packed = int(cells[cell])
        rows.append(
            (
                (YEAR + timedelta(days=d)).date(),
                packed // 1_000_000,
                packed % 1_000_000,
                f"{CITIES[city_of_cell[cell]].code[:4]}02",
                count,
            )
        )
    return rows


async def raw_select(dsn: str) -> tuple[float, int, int]:
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        accidents = await conn.fetch(
            "SELECT lat, lon, occurred_at FROM alerts.accident_facts WHERE admin_code LIKE '37%' "
            "AND occurred_at >= $1 AND occurred_at < $2",
            YEAR,
            YEAR + timedelta(days=365),
        )
        cells = await conn.fetch(
            "SELECT lat_q, lon_q, sum(violations) FROM alerts.violation_cells WHERE admin_code LIKE '37%' "
            "AND day >= $1 AND day < $2 GROUP BY lat_q, lon_q",
            YEAR.date(),
            (YEAR + timedelta(days=365)).date(),
        )
        return time.perf_counter() - started, len(accidents), len(cells)
    finally:
        await conn.close()


async def analysis(url: str) -> tuple[float, dict[str, Any]]:
    from sqlalchemy.ext.asyncio import create_async_engine

    from qzx_alerts.blackspots import service

    engine = create_async_engine(url)
    run_id = f"bsr-bench-{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(to_plain_url(url))
    try:
        await conn.execute(
            "INSERT INTO alerts.blackspot_runs (id, admin_prefix, period_from, period_to, status, params, "
            "requested_by) VALUES ($1, '37', $2, $3, 'queued', $4, 'bench')",
            run_id,
            YEAR,
            YEAR + timedelta(days=365),
            orjson.dumps(
                {"eps_m": 150.0, "min_accidents": 3, "min_days": 2, "violations_per_accident": 200.0}
            ).decode(),
        )
        started = time.perf_counter()
        await service.execute(engine, run_id)
        elapsed = time.perf_counter() - started
        run = dict(await conn.fetchrow("SELECT * FROM alerts.blackspot_runs WHERE id = $1", run_id))
        run["stock"] = await conn.fetchval(
            "SELECT count(*) FROM alerts.blackspot_proposals WHERE run_id = $1 AND ledger = 'stock'", run_id
        )
    finally:
        await conn.close()
        await engine.dispose()
    assert run["status"] == "done", run
    return elapsed, run


async def counting_rate(url: str, n: int) -> float:
    from aiokafka import ConsumerRecord
    from sqlalchemy.ext.asyncio import create_async_engine

    from qzx_alerts.blackspots import cells
    from qzx_common.contracts.samples import make_event

    rng = np.random.default_rng(3)
    lat, lon, city = _places(rng, 200, 0.3)
    values = []
    for i in range(n):
        c = i % 200
        where = {
            "lat": float(lat[c]),
            "lon": float(lon[c]),
            "admin_code": f"{CITIES[int(city[c])].code[:4]}02",
        }
        values.append(orjson.dumps(make_event(captured_at=YEAR + timedelta(seconds=i * 30), location=where)))
    records = [
        ConsumerRecord("bench", 0, i, 0, 0, None, v, None, 0, len(v), []) for i, v in enumerate(values)
    ]
    engine = create_async_engine(url)
    try:
        started = time.perf_counter()
        for start in range(0, n, 500):
            async with engine.begin() as conn:
                await cells.apply(conn, records[start : start + 500])
        return n / (time.perf_counter() - started)
    finally:
        await engine.dispose()


async def run(*, accidents: int, violations: int, server_url: str) -> dict[str, Any]:
    from qzx_alerts.main import MIGRATIONS
    from qzx_common.db import migrate

    r: dict[str, Any] = {"accidents_made": accidents, "violations_made": violations}
    rng = np.random.default_rng(20)
    async with fresh_database(server_url, "blackspots") as created:
        url, dsn = to_asyncpg_url(created), to_plain_url(created)
        await migrate(url=url, migrations_dir=MIGRATIONS, schema="alerts")
        conn = await asyncpg.connect(dsn)
        try:
            say(f"loading {accidents:,} accidents and {HOTSPOTS // 2} known hazards")
            hotspots = _places(rng, HOTSPOTS, 0.25)
            await conn.copy_records_to_table(
                "accident_facts", schema_name="alerts", records=accident_rows(accidents, rng, hotspots)
            )
            await conn.copy_records_to_table(
                "hazards",
                schema_name="alerts",
                columns=[
                    "id",
                    "name",
                    "lat",
                    "lon",
                    "radius_m",
                    "risk_level",
                    "status",
                    "admin_code",
                    "owner_code",
                    "created_by",
                ],
                records=hazard_rows(hotspots),
            )
            say(f"counting {violations:,} violations into cells and loading them")
            rows = cell_rows(violations, rng)
            r["cell_day_rows"] = len(rows)
            await conn.copy_records_to_table(
                "violation_cells",
                schema_name="alerts",
                columns=["day", "lat_q", "lon_q", "admin_code", "violations"],
                records=rows,
            )
            await conn.execute("ANALYZE alerts.accident_facts; ANALYZE alerts.violation_cells")
        finally:
            await conn.close()
        say("(a) raw SELECT of the points")
        r["raw_select_s"], r["accidents"], r["cells"] = await raw_select(dsn)
        say("(b) the analysis")
        r["analysis_s"], done = await analysis(url)
        r["proposals"], r["stock"] = done["proposals"], done["stock"]
        say("(c) counting violations into cells")
        r["counting_rate"] = await counting_rate(url, 20_000)
    r["analysis_vs_raw_select"] = r["analysis_s"] / r["raw_select_s"]
    return r


def table(r: dict[str, Any]) -> str:
    lines = [
        ("data", f"{r['accidents']:,} accidents, {r['violations_made']:,} violations in {r['cell_day_rows']:,} cell-days ({r['cells']:,} cells)"),
        ("(a) raw SELECT of the points", f"{r['raw_select_s']:>8.2f} s"),
        ("(b) analysis, start to done", f"{r['analysis_s']:>8.2f} s   (target < {TARGET_S:.0f} s)"),
        ("ratio (b) / (a)", f"{r['analysis_vs_raw_select']:>8.1f}"),
        ("proposals", f"{r['proposals']:,} ({r['stock']:,} matching known hazards)"),
        ("(c) cell counting", f"{r['counting_rate']:>8,.0f} violations/s"),
    ]  # fmt: skip
    body = aligned(lines)
    verdict = "meets" if r["analysis_s"] < TARGET_S else "MISSES"
    return f"black-spot benchmark\n{body}\n  => {verdict} the {TARGET_S:.0f} s target"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qzx_dev.bench.blackspots", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="3,000 accidents, 1,000,000 violations")
    parser.add_argument("--accidents", type=int, help="accidents (default 30,000)")
    parser.add_argument("--violations", type=int, help="violations (default 10,000,000)")
    args = parser.parse_args(argv)
    accidents = args.accidents or (3_000 if args.quick else 30_000)
    violations = args.violations or (1_000_000 if args.quick else 10_000_000)
    with servers("blackspots") as (server_url, _bootstrap):
        results = run_async(run(accidents=accidents, violations=violations, server_url=server_url))
    results["quick"] = args.quick
    print(table(results), flush=True)
    say(f"results written to {write_json(results, name='blackspots')}")
    return 0 if results["analysis_s"] < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
