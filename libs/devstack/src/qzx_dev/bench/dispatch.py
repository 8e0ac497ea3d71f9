"""Dispatch benchmark: the three figures of the dispatch issue beside raw baselines, in one run.

    uv run python -m qzx_dev.bench.dispatch [--quick] [--clients N] [--alerts N]

(a) a one-week city shift plan (168 h, 24 candidate starts, 8-hour shifts, 12 h rest) solved to
    optimality by HiGHS through ``scipy.optimize.milp``; baseline: its LP relaxation;
(b) assignment with 2,000 units on duty in one city (every unit a candidate), each assignment
    one transaction (rank, lock, insert, outbox, notify, commit); baseline: a one-row insert + commit;
(c) N concurrent long-polling patrol clients (5,000; --quick 500) on one dispatch process run by
    uvicorn in a subprocess: alerts produced to alerts.v1, latency from the task's creation (its
    ``created_at``, stamped inside the assigning transaction) to the client holding it, and the
    server's peak resident memory; baseline: a bare Postgres NOTIFY → LISTEN hop.
QZX_DATABASE_URL / QZX_KAFKA_BOOTSTRAP are used when set, else the embedded servers are started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from qzx_common.settings import to_plain_url
from qzx_dev.bench import run_async

TARGETS = {"plan_s": 2.0, "assign_p99_ms": 50.0, "delivery_p99_s": 1.0, "rss_gib": 1.0}
SECRET = "qzx-bench-secret-0123456789abcdef0123456789"


def say(text: str) -> None:
    print(f"[bench dispatch {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# -- the stack -----------------------------------------------------------------------------------


@contextlib.contextmanager
def stack() -> Any:
    from qzx_dev.embedded import free_port, start_broker, start_postgres

    state = Path(tempfile.mkdtemp(prefix="qzx-bench-dispatch-"))
    started: list[Any] = []
    try:
        server = os.environ.get("QZX_DATABASE_URL")
        if not server:
            pg = start_postgres(data_dir=state / "pg", port=free_port(), log_path=state / "pg.log", fast=True)
            started.append(pg)
            server = pg.url()
        bootstrap = os.environ.get("QZX_KAFKA_BOOTSTRAP")
        if not bootstrap:
            broker = start_broker(port=free_port(), log_path=state / "broker.log")
            started.append(broker)
            bootstrap = broker.bootstrap
        yield server, bootstrap
    finally:
        for proc in reversed(started):
            proc.stop()


def fresh_database(server: str) -> tuple[str, str]:
    from qzx_dev.embedded import create_database

    name = f"qzx_bench_dispatch_{uuid.uuid4().hex[:8]}"
    return name, create_database(server, name)


# -- (a) the plan --------------------------------------------------------------------------------


def week_demand() -> list[int]:
    """A city's week: commuting peaks, a night drink-driving peak, busier weekends."""
    out = []
    for day in range(7):
        weekend = day >= 5
        for hour in range(24):
            d = 4 + (2 if weekend else 0)
            d += 6 if hour in (7, 8, 17, 18) and not weekend else 0
            d += 8 if hour >= 21 or hour <= 1 else 0
            d += 3 if 11 <= hour <= 13 else 0
            out.append(d)
    return out


def bench_plan() -> dict[str, float]:
    import numpy as np
    from scipy.optimize import milp

    from qzx_dispatch.shifts import solver

    p = solver.PlanInput(
        demand=week_demand(), shift_hours=8, start_hours=frozenset(range(24)), min_rest_hours=12
    )
    times, result = [], None
    for _ in range(5):
        result = solver.solve(p)
        times.append(result.solve_ms / 1000)
    assert result is not None and result.status == "optimal"
    # Baseline: the same model as an LP (integrality dropped), solved by the same HiGHS.
    original = solver.milp
    lp_times = []
    try:

        def relaxed(c: Any, **kw: Any) -> Any:
            kw["integrality"] = np.zeros_like(kw["integrality"])
            return milp(c, **kw)

        solver.milp = relaxed
        for _ in range(5):
            lp_times.append(solver.solve(p).solve_ms / 1000)
    finally:
        solver.milp = original
    limited = solver.solve(
        solver.PlanInput(
            demand=p.demand, shift_hours=8, start_hours=p.start_hours, min_rest_hours=12, head_count=40
        )
    )
    return {
        "plan_s": statistics.median(times),
        "plan_lp_s": statistics.median(lp_times),
        "plan_unit_hours": result.unit_hours,
        "plan_headcount_s": limited.solve_ms / 1000,
        "plan_headcount_short": sum(limited.shortfall),
    }


# -- (b) assignment ------------------------------------------------------------------------------


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


async def bench_assign(server: str, *, units: int, rounds: int) -> dict[str, float]:
    from qzx_common.contracts.alerts import Alert
    from qzx_common.db import create_engine, migrate, session_factory, transaction
    from qzx_dispatch.main import MIGRATIONS
    from qzx_dispatch.org import seed
    from qzx_dispatch.settings import DispatchSettings
    from qzx_dispatch.tasks.service import assign_alert

    name, url = await asyncio.to_thread(fresh_database, server)
    settings = DispatchSettings(database_url=url, reserve_units=2)
    await migrate(url=settings.async_database_url, migrations_dir=MIGRATIONS, schema="dispatch")
    engine = create_engine(settings.async_database_url, pool_size=4)
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    async with transaction(sessions) as s:
        await seed.reference(s)
    raw = await asyncpg.connect(to_plain_url(url))
    try:
        await seed_units(raw, per_city={"370100": units}, now=now)
        await raw.execute("CREATE TABLE bench_rows (id bigint PRIMARY KEY, payload jsonb)")
        baseline = []
        for i in range(rounds):
            t0 = time.perf_counter()
            async with raw.transaction():
                await raw.execute("INSERT INTO bench_rows VALUES ($1, '{}'::jsonb)", i)
            baseline.append(time.perf_counter() - t0)
    finally:
        await raw.close()
    rng = random.Random(11)
    times, assigned = [], 0
    for i in range(rounds + 20):
        lat, lon = 36.65 + rng.uniform(-0.2, 0.2), 117.12 + rng.uniform(-0.2, 0.2)
        alert = Alert.model_validate(
            {
                "id": f"BA-{i}",
                "status": "new",
                "priority": "P1" if i % 2 else "P3",
                "score": 80,
                "factors": [],
                "violations": ["drunk_driving"],
                "plate": "鲁A12345",
                "admin_code": "370102",
                "location": {"lat": lat, "lon": lon, "admin_code": "370102", "road": "G2"},
                "first_seen": now.isoformat(),
                "last_seen": now.isoformat(),
                "count": 1,
                "event_ids": [f"e{i}"],
            }
        )
        t0 = time.perf_counter()
        async with transaction(sessions) as s:
            result = await assign_alert(s, alert=alert, settings=settings, now=now)
        if i >= 20:  # the first few warm the pools and caches
            times.append(time.perf_counter() - t0)
        assigned += result.task is not None
    await engine.dispose()
    from qzx_dev.embedded import drop_database

    await asyncio.to_thread(drop_database, server, name)
    return {
        "assign_p50_ms": pct(times, 50) * 1000,
        "assign_p99_ms": pct(times, 99) * 1000,
        "assign_baseline_p99_ms": pct(baseline, 99) * 1000,
        "assigned": assigned,
    }


# -- (c) long-poll clients -----------------------------------------------------------------------


@dataclass
class Deliveries:
    latencies: list[float] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    errors: int = 0
    polls: int = 0
    want: int = 0
    complete: asyncio.Event = field(default_factory=asyncio.Event)


async def notify_baseline(url: str, n: int = 200) -> float:
    listener = await asyncpg.connect(to_plain_url(url))
    sender = await asyncpg.connect(to_plain_url(url))
    got: asyncio.Queue[float] = asyncio.Queue()
    await listener.add_listener("bench", lambda *_: got.put_nowait(time.perf_counter()))
    out = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            await sender.execute("SELECT pg_notify('bench', 'x')")
            out.append(await asyncio.wait_for(got.get(), 5) - t0)
    finally:
        await listener.close()
        await sender.close()
    return pct(out, 99)


class PatrolConnection:
    """One phone's keep-alive HTTP/1.1 connection, on bare asyncio streams: thousands of pooled
    httpx connections in one client process cost more CPU than the server under test."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.head = f"Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\n".encode() + self.head)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def client_loop(
    conn: PatrolConnection, out: Deliveries, stop: asyncio.Event, ready: asyncio.Event
) -> None:
    cursor = 0
    first = True
    while not stop.is_set():
        try:
            status, raw = await conn.get(f"/v1/patrol/tasks?cursor={cursor}&wait={0 if first else 30}")
            received = time.time()
            out.polls += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            out.errors += 1
            conn.close()
            conn.writer = None
            await asyncio.sleep(0.5)
            continue
        if status != 200:
            out.errors += 1
            await asyncio.sleep(0.5)
            continue
        body = orjson.loads(raw)
        cursor = body["cursor"]
        for t in body["tasks"]:
            if t["status"] == "assigned" and t["id"] not in out.seen and not first:
                out.seen.add(t["id"])
                out.latencies.append(received - datetime.fromisoformat(t["created_at"]).timestamp())
                if len(out.latencies) >= out.want:
                    out.complete.set()
        if first:
            first = False
            ready.set()


async def sample_rss(pid: int, stop: asyncio.Event, peak: list[int]) -> None:
    import psutil

    proc = psutil.Process(pid)
    while not stop.is_set():
        with contextlib.suppress(psutil.Error):
            peak[0] = max(peak[0], proc.memory_info().rss)
        await asyncio.sleep(0.25)


@contextlib.asynccontextmanager
async def dispatch_server(url: str, bootstrap: str, prefix: str) -> AsyncIterator[tuple[int, int]]:
    from qzx_dev.embedded import free_port, wait_for_port

    port = free_port()
    env = os.environ | {
        "QZX_DATABASE_URL": url,
        "QZX_KAFKA_BOOTSTRAP": bootstrap,
        "QZX_TOPIC_PREFIX": prefix,
        "QZX_DISPATCH_PORT": str(port),
        "QZX_JWT_SECRET": SECRET,
        "QZX_DEMO_DATA": "0",
        "QZX_LOG_LEVEL": "WARNING",
        "QZX_DB_POOL_SIZE": "20",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "qzx_dispatch", env=env, stdin=subprocess.DEVNULL
    )
    try:
        await asyncio.to_thread(wait_for_port, port, timeout=120, what="dispatch")
        import httpx

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
            for _ in range(240):
                with contextlib.suppress(httpx.HTTPError):
                    if (await c.get("/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.25)
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def bench_long_poll(
    server: str, bootstrap: str, *, clients: int, alerts: int, rate: float
) -> dict[str, float]:
    from aiokafka import AIOKafkaProducer

    from qzx_common.contracts.geo import CITIES
    from qzx_common.kafka.admin import ensure_topics
    from qzx_common.topics import ALERTS
    from qzx_common.web.auth import mint_token

    name, url = await asyncio.to_thread(fresh_database, server)
    prefix = f"b{uuid.uuid4().hex[:6]}."
    baseline = await notify_baseline(url)
    await ensure_topics(bootstrap, prefix=prefix)
    async with dispatch_server(url, bootstrap, prefix) as (port, pid):
        raw = await asyncpg.connect(to_plain_url(url))
        per_city = {
            c.code: clients // len(CITIES) + (1 if i < clients % len(CITIES) else 0)
            for i, c in enumerate(CITIES)
        }
        unit_ids = await seed_units(raw, per_city=per_city, now=datetime.now(UTC))
        await raw.close()
        say(f"{len(unit_ids)} units on duty; connecting {clients} long-polling clients")
        out, stop, peak = Deliveries(want=alerts), asyncio.Event(), [0]
        readies = [asyncio.Event() for _ in unit_ids]
        rss_task = asyncio.create_task(sample_rss(pid, stop, peak))
        loops = []
        for i, uid in enumerate(unit_ids):
            token = mint_token(
                secret=SECRET, sub=f"bench-{uid}", role="patrol_officer", jur="37", unit_id=uid
            )
            conn = PatrolConnection(port, token)
            loops.append(asyncio.create_task(client_loop(conn, out, stop, readies[i])))
            if i % 250 == 249:
                await asyncio.sleep(0.05)  # a ramp, not a SYN flood
        all_ready = asyncio.ensure_future(asyncio.gather(*(e.wait() for e in readies)))
        for _ in range(60):  # progress every 5 s, up to 5 minutes
            done, _pending = await asyncio.wait({all_ready}, timeout=5)
            if done:
                break
            say(f"{sum(e.is_set() for e in readies)}/{clients} clients connected")
        else:
            raise TimeoutError("the long-poll clients did not all connect within 5 minutes")
        await asyncio.sleep(3)  # every client is now holding a long-poll
        say(
            f"all {clients} clients waiting (polls so far {out.polls}, errors {out.errors}); producing {alerts} alerts"
        )
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1)
        await producer.start()
        rng = random.Random(3)
        try:
            for i in range(alerts):
                city = CITIES[i % len(CITIES)]
                now = datetime.now(UTC).isoformat()
                alert_id = f"BL-{i}-{uuid.uuid4().hex[:6]}"
                body = {
                    "id": alert_id,
                    "status": "new",
                    "priority": "P1",
                    "score": 90,
                    "factors": [],
                    "violations": ["speeding"],
                    "plate": "鲁A12345",
                    "admin_code": f"{city.code[:4]}02",
                    "location": {
                        "lat": city.lat + rng.uniform(-0.1, 0.1),
                        "lon": city.lon + rng.uniform(-0.1, 0.1),
                        "admin_code": f"{city.code[:4]}02",
                        "road": "G2",
                    },
                    "first_seen": now,
                    "last_seen": now,
                    "count": 1,
                    "event_ids": [f"e{i}"],
                    "version": 1,
                }
                await producer.send(prefix + ALERTS, orjson.dumps(body), key=alert_id.encode())
                await asyncio.sleep(1 / rate)
            await producer.flush()
        finally:
            await producer.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(out.complete.wait(), 30)
        stop.set()
        say(f"delivered {len(out.latencies)}/{alerts}; closing clients")
        for t in loops:
            t.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        await rss_task
    from qzx_dev.embedded import drop_database

    with contextlib.suppress(Exception):
        await asyncio.to_thread(drop_database, server, name)
    return {
        "delivery_p50_s": pct(out.latencies, 50),
        "delivery_p99_s": pct(out.latencies, 99),
        "delivered": len(out.latencies),
        "rss_gib": peak[0] / 2**30,
        "notify_p99_s": baseline,
        "client_errors": out.errors,
    }


# -- report --------------------------------------------------------------------------------------


def report(r: dict[str, Any], *, clients: int, alerts: int, units: int) -> None:
    def row(what: str, measured: str, target: str, baseline: str, ratio: str, ok: bool | None) -> None:
        verdict = "" if ok is None else ("ok" if ok else "MISSED")
        print(f"{what:<44} {measured:>12} {target:>10} {baseline:>16} {ratio:>9}  {verdict}")

    print()
    row("dispatch benchmark", "measured", "target", "raw baseline", "ratio", None)
    row(
        "plan: 168 h × 24 starts, solve (median of 5)",
        f"{r['plan_s'] * 1000:.0f} ms",
        "< 2 s",
        f"LP {r['plan_lp_s'] * 1000:.0f} ms",
        f"{r['plan_s'] / r['plan_lp_s']:.1f}×",
        r["plan_s"] < TARGETS["plan_s"],
    )
    row(
        "plan: same with head count 40",
        f"{r['plan_headcount_s'] * 1000:.0f} ms",
        "< 2 s",
        "",
        "",
        r["plan_headcount_s"] < TARGETS["plan_s"],
    )
    row(
        f"assignment p99, {units} units on duty",
        f"{r['assign_p99_ms']:.1f} ms",
        "< 50 ms",
        f"insert {r['assign_baseline_p99_ms']:.1f} ms",
        f"{r['assign_p99_ms'] / r['assign_baseline_p99_ms']:.1f}×",
        r["assign_p99_ms"] < TARGETS["assign_p99_ms"],
    )
    row(f"assignment p50, {units} units on duty", f"{r['assign_p50_ms']:.1f} ms", "", "", "", None)
    row(
        f"assignment→delivery p99, {clients} clients",
        f"{r['delivery_p99_s'] * 1000:.0f} ms",
        "< 1 s",
        f"NOTIFY {r['notify_p99_s'] * 1000:.1f} ms",
        f"{r['delivery_p99_s'] / r['notify_p99_s']:.0f}×",
        r["delivery_p99_s"] < TARGETS["delivery_p99_s"],
    )
    row(
        f"assignment→delivery p50 ({r['delivered']}/{alerts} seen)",
        f"{r['delivery_p50_s'] * 1000:.0f} ms",
        "",
        "",
        "",
        None,
    )
    row(
        f"server RSS peak, {clients} clients",
        f"{r['rss_gib'] * 1024:.0f} MiB",
        "< 1 GiB",
        "",
        "",
        r["rss_gib"] < TARGETS["rss_gib"],
    )
    print(
        f"(long-poll client errors: {r['client_errors']}; plan unit-hours {r['plan_unit_hours']}, "
        f"with head count 40: {r['plan_headcount_short']} unit-hours uncovered)"
    )


def main(argv: list[str] | None = None) -> int:
    # A plain SIGTERM would skip the cleanup that stops the embedded servers and the dispatch process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(prog="python -m qzx_dev.bench.dispatch")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clients", type=int)
    parser.add_argument("--alerts", type=int)
    args = parser.parse_args(argv)
    clients = args.clients or (500 if args.quick else 5000)
    alerts = args.alerts or (100 if args.quick else 400)
    rounds = 100 if args.quick else 400
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, clients * 2 + 1024)), hard))
    results: dict[str, Any] = {}
    say("(a) one-week shift plan")
    results |= bench_plan()
    with stack() as (server, bootstrap):
        say("(b) assignment with 2,000 units on duty")
        results |= run_async(bench_assign(server, units=2000, rounds=rounds))
        say(f"(c) {clients} long-polling clients")
        results |= run_async(bench_long_poll(server, bootstrap, clients=clients, alerts=alerts, rate=20))
    report(results, clients=clients, alerts=alerts, units=2000)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
