"""The dispatch benchmark's stack and world: embedded servers, a fresh database a run, units on
shift (``bench.dispatch`` and ``bench.dispatch_longpoll`` share them)."""

from __future__ import annotations

import random
import sys
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg

# -- (a) the plan --------------------------------------------------------------------------------

SECRET = "qzx-bench-secret-0123456789abcdef0123456789"


def say(text: str) -> None:
    print(f"[bench dispatch {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# -- the stack -----------------------------------------------------------------------------------


def fresh_database(server: str) -> tuple[str, str]:
    from qzx_dev.embedded import create_database

    name = f"qzx_bench_dispatch_{uuid.uuid4().hex[:8]}"
    return name, create_database(server, name)


async def seed_units(conn: asyncpg.Connection, *, per_city: dict[str, int], now: datetime) -> list[str]:
    from qzx_common.contracts.geo import CITY_BY_CODE

    rng = random.Random(7)
    units: list[tuple[Any, ...]] = []
    rosters: list[tuple[Any, ...]] = []
    for city, n in per_city.items():
        c = CITY_BY_CODE[city]
        for i in range(n):
            uid = f"B{city}-{i:05d}"
            units.append(
                (
                    uid,
                    f"bench {uid}",
                    f"{city[:4]}02",
                    city,
                    "car",
                    ["breathalyser", "pursuit", "interception"],
                    c.lat + rng.uniform(-0.25, 0.25),
                    c.lon + rng.uniform(-0.25, 0.25),
                    "available",
                    0,
                )
            )
            rosters.append(
                (uid, now.date(), now - timedelta(hours=2), now + timedelta(hours=10), [], True, "bench")
            )
    await conn.copy_records_to_table(
        "units",
        schema_name="dispatch",
        records=units,
        columns=[
            "id",
            "call_sign",
            "admin_code",
            "city_code",
            "vehicle",
            "capabilities",
            "home_lat",
            "home_lon",
            "status",
            "change_seq",
        ],
    )
    await conn.copy_records_to_table(
        "rosters",
        schema_name="dispatch",
        records=rosters,
        columns=["unit_id", "shift_date", "starts_at", "ends_at", "crew", "has_sworn", "source"],
    )
    await conn.execute("ANALYZE dispatch.units; ANALYZE dispatch.rosters")
    return [u[0] for u in units]
