"""Dispatch intake benchmark: alerts.v1 → dispatch's consumer (the runner and handler the service
runs) through the embedded broker and PostgreSQL, beside raw baselines in the same run.

    uv run python -m qzx_dev.bench.dispatch_intake [--quick] [--alerts N] [--units N] [--profile OUT]

The alerts are a soak's mix: new alerts (P1–P4, in every city), later versions of them, and some
closed; 5,000 units on duty across the cities (as ``make soak`` seeds). Measured: alert versions
applied per second from the first fetch to the last commit. Baselines, on the same topic:
- raw consume: the same runner with a handler that does nothing;
- raw insert: the same runner, each batch's alerts inserted in one transaction (asyncpg
  ``executemany``), the cheapest database-writing consumer.
``--profile OUT`` writes a cProfile of the intake run (``python -m pstats OUT``).
QZX_DATABASE_URL / QZX_KAFKA_BOOTSTRAP are used when set, else the embedded servers are started.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import asyncpg
import orjson
from aiokafka import ConsumerRecord

from qzx_common.settings import to_plain_url
from qzx_dev.bench import run_async, servers
from qzx_dev.bench.dispatch_stack import fresh_database, say, seed_units

TARGET_PER_S = 2000.0
VIOLATIONS = (["speeding"], ["drunk_driving"], ["red_light"], ["wrong_way"], ["illegal_parking"])
PRIORITIES = ("P1", "P2", "P2", "P3", "P3", "P4")


def alert_mix(n: int, *, seed: int = 5) -> list[dict[str, Any]]:
    """``n`` alert versions: ~70 % new alerts, ~22 % a later version of one, ~8 % one dismissed."""
    from qzx_common.contracts.geo import CITIES

    rng = random.Random(seed)
    now = datetime.now(UTC)
    out: list[dict[str, Any]] = []
    known: list[dict[str, Any]] = []
    while len(out) < n:
        roll = rng.random()
        if known and roll < 0.30:
            prev = rng.choice(known)
            body = dict(prev, version=prev["version"] + 1, count=prev["count"] + 1)
            body["last_seen"] = (now + timedelta(seconds=len(out) / 1000)).isoformat()
            body["event_ids"] = [*prev["event_ids"], f"e{len(out)}"]
            if roll < 0.08:
                body["status"] = "dismissed"
                body["dismiss_reason"] = "bench"
            known[known.index(prev)] = body
        else:
            city = rng.choice(CITIES)
            admin = city.code[:4] + "02"
            body = {
                "id": f"BI-{uuid.uuid4().hex[:12]}",
                "status": "new",
                "priority": rng.choice(PRIORITIES),
                "score": 70,
                "factors": [],
                "violations": rng.choice(VIOLATIONS),
                "plate": "鲁A12345",
                "admin_code": admin,
                "location": {
                    "lat": city.lat + rng.uniform(-0.2, 0.2),
                    "lon": city.lon + rng.uniform(-0.2, 0.2),
                    "admin_code": admin,
                    "road": "G2",
                },
                "first_seen": now.isoformat(),
                "last_seen": now.isoformat(),
                "count": 1,
                "event_ids": [f"e{len(out)}"],
                "version": 1,
            }
            known.append(body)
            if len(known) > 2000:  # later versions follow their alert closely, as in the pipeline
                known.pop(0)
        out.append(body)
    return out


async def produce(bootstrap: str, topic: str, bodies: Sequence[dict[str, Any]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    try:
        for b in bodies:
            await producer.send(topic, orjson.dumps(b), key=b["id"].encode())
        await producer.flush()
    finally:
        await producer.stop()


async def consume_all(
    bootstrap: str, topic: str, *, total: int, handle: Callable[[Sequence[ConsumerRecord]], Awaitable[None]]
) -> tuple[float, float]:
    """Run a consumer runner (a fresh group) until ``total`` records are committed: records per
    second of wall time, and per second of this process's CPU time (what bounds it on a shared
    machine, where wall time is mostly waiting for a core)."""
    from qzx_common.kafka.runner import ConsumerRunner

    runner = ConsumerRunner(
        bootstrap=bootstrap, topics=[topic], group_id=f"bench-{uuid.uuid4().hex[:8]}", handle=handle
    )
    await runner.start()
    started: list[float] = []

    async def timed(records: Sequence[ConsumerRecord]) -> None:
        if not started:
            started.extend((time.perf_counter(), time.process_time()))
        await handle(records)

    runner.handle = timed
    task = asyncio.create_task(runner.run())
    try:
        while sum(runner.committed.values()) < total:
            if task.done():
                task.result()
                raise RuntimeError("the consumer stopped")
            await asyncio.sleep(0.01)
        return total / (time.perf_counter() - started[0]), total / (time.process_time() - started[1])
    finally:
        runner.stop()
        await task


async def bench_intake(
    server: str, bootstrap: str, *, alerts: int, units: int, profile: str | None
) -> dict[str, Any]:
    from qzx_common.db import create_engine, migrate, session_factory, transaction
    from qzx_common.kafka.admin import ensure_topics
    from qzx_common.topics import ALERTS
    from qzx_dev.embedded import drop_database
    from qzx_dispatch.clock import SystemClock
    from qzx_dispatch.consumer import alerts_handler
    from qzx_dispatch.main import MIGRATIONS
    from qzx_dispatch.org import reference
    from qzx_dispatch.settings import DispatchSettings

    name, url = await asyncio.to_thread(fresh_database, server)
    settings = DispatchSettings(database_url=url)
    await migrate(url=settings.async_database_url, migrations_dir=MIGRATIONS, schema="dispatch")
    engine = create_engine(settings.async_database_url, pool_size=4)
    sessions = session_factory(engine)
    from qzx_common.contracts.geo import CITIES

    per_city = {
        c.code: units // len(CITIES) + (1 if i < units % len(CITIES) else 0) for i, c in enumerate(CITIES)
    }
    async with transaction(sessions) as s:
        await reference.seed(s)
    raw = await asyncpg.connect(to_plain_url(url))
    await seed_units(raw, per_city=per_city, now=datetime.now(UTC))
    await raw.execute(
        "CREATE TABLE bench_alerts (alert_id text PRIMARY KEY, version int, payload jsonb, updated_at timestamptz)"
    )
    prefix = f"bi{uuid.uuid4().hex[:6]}."
    await ensure_topics(bootstrap, prefix=prefix)
    topic = prefix + ALERTS
    bodies = alert_mix(alerts)
    say(f"producing {alerts} alert versions to {topic}")
    await produce(bootstrap, topic, bodies)
    out: dict[str, Any] = {"alerts": alerts, "units": units}
    from qzx_common.runtime import settle_heap

    settle_heap()  # as the service does once started
    try:
        say("raw consume")

        async def nothing(records: Sequence[ConsumerRecord]) -> None:
            return None

        out["raw_consume_per_s"], out["raw_consume_cpu"] = await consume_all(
            bootstrap, topic, total=alerts, handle=nothing
        )
        say("raw insert (one transaction per batch)")

        async def insert(records: Sequence[ConsumerRecord]) -> None:
            rows = []
            for r in records:
                body = orjson.loads(r.value or b"")
                rows.append((body["id"], body["version"], (r.value or b"").decode(), datetime.now(UTC)))
            async with raw.transaction():
                await raw.executemany(
                    "INSERT INTO bench_alerts VALUES ($1, $2, $3::jsonb, $4) ON CONFLICT (alert_id) DO UPDATE "
                    "SET version = excluded.version, payload = excluded.payload "
                    "WHERE bench_alerts.version < excluded.version",
                    rows,
                )

        out["raw_insert_per_s"], out["raw_insert_cpu"] = await consume_all(
            bootstrap, topic, total=alerts, handle=insert
        )
        say("dispatch intake")
        rt = SimpleNamespace(sessions=sessions, relay=SimpleNamespace(wake=lambda: None))
        handler = alerts_handler(rt, settings=settings, clock=SystemClock())  # type: ignore[arg-type]
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        out["intake_per_s"], out["intake_cpu"] = await consume_all(
            bootstrap, topic, total=alerts, handle=handler
        )
        if profiler and profile:
            profiler.disable()
            profiler.dump_stats(profile)
        out |= await check(raw, bodies)
    finally:
        await raw.close()
        await engine.dispose()
        await asyncio.to_thread(drop_database, server, name)
    return out


async def check(raw: asyncpg.Connection, bodies: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the intake left: every alert at its latest version, no alert or unit with two active tasks."""
    latest: dict[str, int] = {}
    for b in bodies:
        latest[b["id"]] = max(latest.get(b["id"], 0), b["version"])
    stored = dict(await raw.fetch("SELECT alert_id, version FROM dispatch.alerts"))
    behind = sum(1 for a, v in latest.items() if stored.get(a) != v)
    states = dict(await raw.fetch("SELECT state, count(*) FROM dispatch.alerts GROUP BY state"))
    tasks = await raw.fetchval("SELECT count(*) FROM dispatch.tasks")
    twice = await raw.fetchval(
        "SELECT count(*) FROM (SELECT alert_id FROM dispatch.tasks WHERE status IN "
        "('assigned','signed','en_route','on_scene') GROUP BY alert_id HAVING count(*) > 1) x"
    )
    unit_twice = await raw.fetchval(
        "SELECT count(*) FROM (SELECT unit_id FROM dispatch.tasks WHERE status IN "
        "('assigned','signed','en_route','on_scene') GROUP BY unit_id HAVING count(*) > 1) x"
    )
    return {
        "alerts_distinct": len(latest),
        "alerts_behind": behind,
        "states": states,
        "tasks": tasks,
        "alert_twice": twice,
        "unit_twice": unit_twice,
    }


def report(r: dict[str, Any]) -> bool:
    ok = r["intake_per_s"] >= TARGET_PER_S
    sound = r["alerts_behind"] == 0 and r["alert_twice"] == 0 and r["unit_twice"] == 0
    print()
    print(f"{'dispatch intake benchmark':<52} {'measured':>12} {'target':>10} {'ratio':>9}")
    print(
        f"{'intake, alert versions/s (' + str(r['alerts']) + ', ' + str(r['units']) + ' units)':<52} "
        f"{r['intake_per_s']:>10.0f}/s {'≥ 2000/s':>10} {'':>9}  {'ok' if ok else 'MISSED'}"
    )
    print(f"{'  per CPU-second of the consumer process':<52} {r['intake_cpu']:>10.0f}/s")
    for key, label in (("raw_consume", "raw consume"), ("raw_insert", "raw insert (batch tx)")):
        wall, cpu = r[f"{key}_per_s"], r[f"{key}_cpu"]
        print(f"{'  baseline: ' + label:<52} {wall:>10.0f}/s {'':>10} {r['intake_per_s'] / wall:>8.3f}×")
        print(f"{'    per CPU-second':<52} {cpu:>10.0f}/s {'':>10} {r['intake_cpu'] / cpu:>8.3f}×")
    print(
        f"(alerts {r['alerts_distinct']}, behind their latest version {r['alerts_behind']}; tasks {r['tasks']}; "
        f"alerts with two active tasks {r['alert_twice']}, units with two {r['unit_twice']}; states {r['states']})"
    )
    return sound


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qzx_dev.bench.dispatch_intake")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--alerts", type=int)
    parser.add_argument("--units", type=int, default=5000)
    parser.add_argument("--profile", help="write a cProfile of the intake run here")
    args = parser.parse_args(argv)
    alerts = args.alerts or (5000 if args.quick else 30000)
    with servers("dispatch-intake", fast=True) as (server, bootstrap):
        results = run_async(
            bench_intake(server, bootstrap, alerts=alerts, units=args.units, profile=args.profile)
        )
    return 0 if report(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
