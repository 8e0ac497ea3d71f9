"""Alerts benchmark (e): camera → ingest → alerts, each service in its own process on the same
stack: throughput through Kafka and camera event → alert visible latency, beside a raw hop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import time
import uuid
from typing import Any

import orjson

from qzx_dev.bench.alerts_data import (
    CAMERA_LINGER_MS,
    GET_SAMPLE,
    WARM_UP_EVENTS,
    WINDOW_S,
    accepted_events,
    by_window,
    log,
    plates,
)


class Services:
    """ingest and alerts as subprocesses (``python -m qzx_ingest`` / ``qzx_alerts``), as deployed."""

    def __init__(self, url: str, bootstrap: str, prefix: str) -> None:
        import os

        from qzx_dev.embedded import free_port

        self.alerts_port, self.ingest_port = free_port(), free_port()
        self.env = os.environ | {
            "QZX_DATABASE_URL": url,
            "QZX_KAFKA_BOOTSTRAP": bootstrap,
            "QZX_TOPIC_PREFIX": prefix,
            "QZX_INGEST_PORT": str(self.ingest_port),
            "QZX_ALERTS_PORT": str(self.alerts_port),
            "QZX_LOG_LEVEL": "WARNING",
        }
        self.procs: list[Any] = []

    def start(self, module: str) -> None:
        import subprocess
        import sys

        self.procs.append(subprocess.Popen([sys.executable, "-m", module], env=self.env))

    async def wait_ready(self, port: int) -> None:
        import httpx

        async with httpx.AsyncClient() as c:
            for _ in range(600):
                try:
                    if (await c.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"service on port {port} not ready in 60 s")

    def stop(self) -> None:
        import subprocess

        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:  # a stream still open keeps uvicorn waiting
                p.kill()
                p.wait()


async def produce(
    bootstrap: str,
    topic: str,
    values: list[bytes],
    *,
    rate: float | None = None,
    sent: dict[str, float] | None = None,
) -> dict[str, float]:
    """Send ``values`` (keyed by device, like cameras), at ``rate`` per second when given; notes
    each event id's send time (perf_counter) in ``sent`` as it goes, and returns it."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=CAMERA_LINGER_MS)
    await producer.start()
    sent = {} if sent is None else sent
    try:
        started, pending = time.perf_counter(), []
        for i, v in enumerate(values):
            if rate is not None:
                due = started + i / rate
                if (wait := due - time.perf_counter()) > 0:
                    await asyncio.sleep(wait)
            e = orjson.loads(v)
            sent[e["event_id"]] = time.perf_counter()
            pending.append(await producer.send(topic, v, key=e["device_id"].encode()))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


async def count_rows(dsn: str, table: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await conn.close()


async def consumed_rate(port: int, group: str, *, expected: int, what: str, timeout: float = 600) -> float:
    """Events per second a service's consumer group gets through ``expected`` records at, from its
    first committed batch to its last (start-up, migrations and group joins excluded). Polls the
    service's own metrics 10 times a second: a ``count(*)`` of a million-row table as often would
    take most of a core from the database being measured."""
    import httpx

    first: tuple[float, float] | None = None
    started = last_log = time.perf_counter()
    while True:
        try:
            n = (await consumer_counters(port, group))[0]
        except httpx.TransportError:  # the service is still starting
            n = 0.0
        now = time.perf_counter()
        if n >= expected:
            break
        if first is None and n > 0:
            first = (now, n)
        if now - last_log > 5:
            log(f"{what}: {n:,.0f}/{expected:,}")
            last_log = now
        if now - started > timeout:
            raise TimeoutError(f"{what}: {n:.0f} of {expected} records in {timeout:.0f} s")
        await asyncio.sleep(0.1)
    at, done = first or (started, 0.0)
    return (expected - done) / (now - at)


async def raw_hop_latency(bootstrap: str, topic: str, n: int, rate: float) -> list[float]:
    """One Kafka hop at ``rate``/s (produce → a consumer with the services' 20 ms fetch wait)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-hop-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="latest",
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        for tp in consumer.assignment():  # start at the end, without waiting for a fetch
            await consumer.seek_to_end(tp)
        values = [orjson.dumps({"event_id": f"hop-{i}", "device_id": "d"}) for i in range(n)]
        producing = asyncio.create_task(produce(bootstrap, topic, values, rate=rate))
        latencies: list[float] = []
        deadline = time.perf_counter() + n / rate + 10
        arrived: dict[str, float] = {}
        while len(arrived) < n and time.perf_counter() < deadline:
            for records in (await consumer.getmany(timeout_ms=100)).values():
                now = time.perf_counter()
                for r in records:
                    arrived[orjson.loads(r.value)["event_id"]] = now
        sent = await producing
        latencies = [arrived[e] - t for e, t in sent.items() if e in arrived]
        return latencies
    finally:
        await consumer.stop()


async def watch_alerts(port: int, token: str, sent: dict[str, float], seen: dict[str, float]) -> None:
    """Read the SSE stream (until cancelled); note when each of our events first appears in an alert."""
    import httpx

    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=None) as c,
        c.stream("GET", "/v1/alerts/stream", headers={"Authorization": f"Bearer {token}"}) as r,
    ):
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                now = time.perf_counter()
                for e in orjson.loads(line[6:])["event_ids"]:
                    if e in sent and e not in seen:
                        seen[e] = now


async def poll_visible(
    port: int, token: str, alert_ids: dict[str, str], sent: dict[str, float], out: list[float]
) -> None:
    """GET /v1/alerts/{id} for a sample of events (alert ids are deterministic) every 10 ms until
    it answers (a sparse sample: polling is load on the service being measured)."""
    import httpx

    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}
    ) as c:

        async def one(event_id: str, alert_id: str) -> None:
            while event_id not in sent:  # noqa: ASYNC110 (the producer notes it when sent)
                await asyncio.sleep(0.005)
            deadline = sent[event_id] + 10
            while time.perf_counter() < deadline:
                if (await c.get(f"/v1/alerts/{alert_id}")).status_code == 200:
                    out.append(time.perf_counter() - sent[event_id])
                    return
                await asyncio.sleep(0.01)

        await asyncio.gather(*(one(e, a) for e, a in alert_ids.items()))


async def consumer_counters(port: int, group: str) -> tuple[float, float, float]:
    """(records, batches, seconds) of a service's consumer ``group`` (its name without the topic
    prefix), from the service's metrics."""
    import httpx

    async with httpx.AsyncClient() as c:
        text = (await c.get(f"http://127.0.0.1:{port}/metrics")).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if f'{group}"' in line and 'group="' in line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name.split("{")[0]] = values.get(name.split("{")[0], 0.0) + float(value)
    return (
        values.get("qzx_consumer_records_total", 0.0),
        values.get("qzx_consumer_batch_seconds_count", 0.0),
        values.get("qzx_consumer_batch_seconds_sum", 0.0),
    )


async def pipeline_phase(
    dsn: str, url: str, bootstrap: str, pool: list[str], rng: random.Random, quick: bool, *, backlog_s: int
) -> dict[str, Any]:
    """Ingest and alerts throughput on the same stack (camera topic pre-filled; each service's rate
    from its first stored row to its last), raw consume of violations.accepted.v1, then camera
    event → alert visible through the API (SSE, and GET for a sample) at 1,000 events/s. The
    pre-filled events are a backlog like scoring's: captured over ``backlog_s``."""
    from qzx_alerts.alerts.merge import alert_id
    from qzx_alerts.consumer import VIOLATIONS_GROUP
    from qzx_alerts.scoring.domain import violation_key
    from qzx_alerts.settings import AlertsSettings
    from qzx_common.contracts.geo import city_code
    from qzx_common.kafka.admin import ensure_topics
    from qzx_common.topics import CAMERA_VIOLATIONS, CAMERA_VIOLATIONS_DLQ, VIOLATIONS_ACCEPTED
    from qzx_common.web.auth import mint_token
    from qzx_dev.bench.kafka import raw_consume
    from qzx_ingest.consumer import GROUP as INGEST_GROUP

    n_fill, seconds = (10_000, 15) if quick else (50_000, 60)
    prefix = f"bench-{uuid.uuid4().hex[:6]}."
    await ensure_topics(bootstrap, prefix=prefix)
    out: dict[str, Any] = {}
    services = Services(url, bootstrap, prefix)
    try:
        log(f"pre-filling {prefix}{CAMERA_VIOLATIONS} with {n_fill:,} events")
        await produce(
            bootstrap,
            prefix + CAMERA_VIOLATIONS,
            accepted_events(n_fill, pool, rng, spread_s=backlog_s, tag="cam"),
        )
        services.start("qzx_ingest")
        out["ingest"] = await consumed_rate(
            services.ingest_port, INGEST_GROUP, expected=n_fill, what="ingest stored"
        )
        log(f"ingest: {out['ingest']:,.0f} events/s")
        while await count_rows(dsn, "ingest.outbox"):  # noqa: ASYNC110 (all relayed: the topic is complete)
            await asyncio.sleep(0.1)
        out["raw_accepted"] = await raw_consume(bootstrap, prefix + VIOLATIONS_ACCEPTED, n_fill)
        log(f"raw consume of violations.accepted.v1: {out['raw_accepted']:,.0f} msgs/s")
        services.start("qzx_alerts")
        out["alerts"] = await consumed_rate(
            services.alerts_port, VIOLATIONS_GROUP, expected=n_fill, what="alerts scored"
        )
        log(f"alerts consumer: {out['alerts']:,.0f} events/s")
        # The latency phase runs on fresh topics, with both services restarted on them: the embedded
        # broker (Tansu, in memory) spends CPU per fetch in proportion to what a topic retains, which
        # Apache Kafka does not, and the 2 cores it would take are the services' (see docs/benchmarks.md).
        services.stop()
        prefix = f"bench-{uuid.uuid4().hex[:6]}."
        await ensure_topics(bootstrap, prefix=prefix)
        services = Services(url, bootstrap, prefix)
        services.start("qzx_ingest")
        services.start("qzx_alerts")
        await services.wait_ready(services.ingest_port)
        await services.wait_ready(services.alerts_port)
        warm = accepted_events(
            WARM_UP_EVENTS, plates(WARM_UP_EVENTS, rng), rng, spread_s=1, tag="warm", one_each=True
        )
        await produce(bootstrap, prefix + CAMERA_VIOLATIONS, warm, rate=1000.0)
        await consumed_rate(
            services.alerts_port, VIOLATIONS_GROUP, expected=WARM_UP_EVENTS, what="warm-up scored"
        )

        out["hop"] = await raw_hop_latency(bootstrap, prefix + CAMERA_VIOLATIONS_DLQ, 3000, 1000.0)
        secret = AlertsSettings().jwt_secret
        token = mint_token(secret=secret, sub="bench", role="province_commander", jur="37")
        # Fresh plates: every event opens its own alert, whose id is known in advance.
        live = accepted_events(
            1000 * seconds, plates(1000 * seconds, rng), rng, spread_s=1, tag="live", one_each=True
        )
        sample = {}
        for v in live[::GET_SAMPLE]:
            e = orjson.loads(v)
            key = violation_key(city_code(e["location"]["admin_code"]), e["plate"], e["violation"])
            sample[e["event_id"]] = alert_id(key, e["event_id"])
        sent: dict[str, float] = {}
        seen: dict[str, float] = {}
        polled: list[float] = []
        watcher = asyncio.create_task(watch_alerts(services.alerts_port, token, sent, seen))
        await asyncio.sleep(1.0)  # the stream is open
        log(f"producing {len(live):,} camera events at 1,000/s")
        before = await consumer_counters(services.alerts_port, VIOLATIONS_GROUP)
        poller = asyncio.create_task(poll_visible(services.alerts_port, token, sample, sent, polled))
        # The measuring process must not pause its own clock: one young collection of its heap
        # (74k cyclic objects freed) stood it still for 353 ms on the busy machine.
        gc.disable()
        try:
            await produce(bootstrap, prefix + CAMERA_VIOLATIONS, live, rate=1000.0, sent=sent)
            for _ in range(100):
                if len(seen) >= len(sent):
                    break
                await asyncio.sleep(0.1)
            await poller
        finally:
            gc.enable()
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        after = await consumer_counters(services.alerts_port, VIOLATIONS_GROUP)
        batches = max(1.0, after[1] - before[1])
        out["batches"] = ((after[0] - before[0]) / batches, (after[2] - before[2]) / batches)
        out["sse"] = [seen[e] - t for e, t in sent.items() if e in seen]
        out["sse_windows"] = by_window(sent, seen, WINDOW_S)
        out["get"] = polled
        out["missing"] = len(sent) - len(seen)
        out["live"] = len(sent)
    finally:
        services.stop()
    return out
