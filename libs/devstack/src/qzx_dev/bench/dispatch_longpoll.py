"""Dispatch benchmark (c): long-poll patrol clients receiving their tasks (``bench.dispatch`` runs it)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from qzx_common.settings import to_plain_url
from qzx_dev.bench.dispatch_stack import SECRET, fresh_database, pct, say, seed_units

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
        self.head = f"Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        return await self.request(f"GET {path} HTTP/1.1\r\n".encode() + self.head + b"\r\n")

    async def post(self, path: str, body: dict[str, Any], *, idempotency_key: str) -> tuple[int, bytes]:
        data = orjson.dumps(body)
        head = f"POST {path} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        key = f"Idempotency-Key: {idempotency_key}\r\n\r\n"
        return await self.request(head.encode() + self.head + key.encode() + data)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        """Closes the connection; the next request opens a new one."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None


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
