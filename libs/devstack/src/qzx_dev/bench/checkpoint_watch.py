"""Checkpoint watch through the whole stack, at a province's peak: the simulator's passages sent to
camera.passages.v1 at ``--rate`` (default 10,000/s) for ``--minutes`` (default 10), the three
services as processes on an embedded PostgreSQL and broker of their own (the soak's stack), and
``--entries`` hotlist entries (default 1,000,000) in the matcher's index.

    uv run python -m qzx_dev.bench.checkpoint_watch [--quick] [--rate R] [--minutes M] [--entries N]

(a) raw produce: 200,000 of the simulator's passages sent to a scratch topic as fast as one
    producer sends them, the ceiling of what this process can offer;
(b) the run, a line a minute: passages sent, stored by ingest, checked by alerts' matcher, the
    consumer lag of both groups (their /metrics), each process's RSS, and the hotlist-hit latency:
    a hotlisted plate's passage from its send to the alert naming it on a province commander's
    SSE stream.
Issue 21's goals: 10,000/s held for 10 minutes with the lag bounded (here: at most ten seconds of
passages waiting, in each of the last three minutes) and that latency's p99 < 500 ms. Each batch is
made just before it is sent, on a clock that keeps to the schedule (``StepClock(ahead=True)``):
the generator's CPU is the ``bench`` process's, on the same cores as the stack.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from qzx_common.contracts.alerts import HOTLIST_HIT
from qzx_common.kafka.admin import ensure_topics
from qzx_common.settings import CommonSettings, to_plain_url
from qzx_common.topics import ALERTS_PASSAGES_GROUP, CAMERA_PASSAGES, INGEST_PASSAGES_GROUP
from qzx_common.web.auth import mint_token
from qzx_dev.bench import aligned, run_async
from qzx_dev.bench.checkpoints import load_hotlist
from qzx_dev.bench.dispatch_stack import pct
from qzx_dev.bench.ingest import prefill, write_json
from qzx_dev.faults.deployment import Deployment
from qzx_dev.simulator.clock import StepClock
from qzx_dev.simulator.generator import SimMessage
from qzx_dev.simulator.passages import PassageGenerator
from qzx_dev.soak.rss import RssSampler
from qzx_dev.soak.stack import own_stack

RATE, MINUTES, ENTRIES = 10_000, 10, 1_000_000
BATCH = 200  # passages sent at one due time
LATENCY_P99_MS = 500
# The simulated cars whose plates are on the hotlist, each on one trip at a time (鲁Z: an office
# letter the simulator issues to no other car).
WATCHED = tuple(f"鲁Z{i:05d}" for i in range(2_000))
RAW_PRODUCE = 200_000  # passages of the raw produce baseline
BOUNDED_S = 10  # the lag allowed, in seconds of passages at the rate
DRAIN_S = 180


def say(text: str) -> None:
    print(f"[bench checkpoint watch {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def generate(*, rate: float, minutes: float, start: datetime) -> Iterator[list[SimMessage]]:
    """The run's passages, a batch per due time ``BATCH / rate`` s apart from ``start``, each made
    when it is asked for (a run's millions held at once would take many GiB)."""
    clock = StepClock(start, timedelta(seconds=BATCH / rate), ahead=True)
    gen = PassageGenerator(seed=31, clock=clock, hotlisted=WATCHED)
    for _ in range(int(rate * 60 * minutes / BATCH)):
        yield gen.batch(BATCH)


@dataclass
class Minute:
    """What one minute of the run recorded."""

    sent: int = 0
    send_errors: int = 0
    hits_ms: list[float] = field(default_factory=list)
    lag: dict[str, float] = field(default_factory=dict)  # group -> the most seen waiting
    stored: float = 0.0
    checked: float = 0.0
    rss_mib: dict[str, float] = field(default_factory=dict)
    cpu_pct: dict[str, float] = field(default_factory=dict)


class Recorder:
    """The current minute (swapped at each mark) and the send times of the hotlisted passages."""

    def __init__(self) -> None:
        self.minute = Minute()
        self.sent_at: dict[str, float] = {}  # hotlisted passage id -> when it was sent
        self.timed: set[str] = set()

    def hit_seen(self, alert: dict[str, Any], received: float) -> None:
        for passage_id in alert.get("event_ids") or ():
            at = self.sent_at.get(passage_id)
            if at is not None and passage_id not in self.timed:
                self.timed.add(passage_id)
                self.minute.hits_ms.append((received - at) * 1000)


async def send(
    bootstrap: str,
    topic: str,
    batches: Iterable[list[SimMessage]],
    *,
    rate: float,
    rec: Recorder,
    stop: asyncio.Event,
) -> float:
    """Each batch at its due time (none early; made just before); returns how late the last one
    went, in seconds."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    acks: set[asyncio.Task[None]] = set()

    async def acked(batch: list[SimMessage], futures: list[asyncio.Future[Any]]) -> None:
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        errors = sum(isinstance(o, BaseException) for o in outcomes)
        rec.minute.sent += len(batch) - errors
        rec.minute.send_errors += errors

    started, late = time.monotonic(), 0.0
    try:
        for k, batch in enumerate(batches):
            if stop.is_set():
                break
            late = time.monotonic() - (started + k * BATCH / rate)
            if late < 0:
                await asyncio.sleep(-late)
            futures = []
            for m in batch:
                if m.scenario == "hotlisted" and m.event_id:
                    rec.sent_at[m.event_id] = time.time()
                futures.append(await producer.send(topic, m.value, key=m.key))
            task = asyncio.create_task(acked(batch, futures))
            acks.add(task)
            task.add_done_callback(acks.discard)
        await asyncio.gather(*acks)
    finally:
        await producer.stop()
    return max(0.0, late)


async def watch_hits(url: str, token: str, rec: Recorder, ready: asyncio.Event) -> None:
    """A province commander's alert stream: every hotlist hit's passages, timed at receipt."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(10.0, read=None)) as client,
        client.stream("GET", "/v1/alerts/stream", headers=headers) as r,
    ):
        r.raise_for_status()
        ready.set()
        pending = b""
        async for chunk in r.aiter_bytes():
            received = time.time()
            pending += chunk
            *blocks, pending = pending.split(b"\n\n")
            for block in blocks:
                _, found, data = block.partition(b"\ndata: ")
                if found and b"event: alert" in block:
                    alert = orjson.loads(data)
                    if alert.get("kind") == HOTLIST_HIT:
                        rec.hit_seen(alert, received)


async def scrape(client: httpx.AsyncClient, url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A service's /metrics as {(sample name, labels): value}."""
    return parse_metrics((await client.get(f"{url}/metrics")).text)


def parse_metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def lag_of(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], group: str) -> float:
    return sum(
        v
        for (name, labels), v in samples.items()
        if name == "qzx_consumer_lag" and ("group", group) in labels
    )


def counter(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, outcome: str) -> float:
    return samples.get((name, (("outcome", outcome),)), 0.0)


class Gauges:
    """Ingest's and alerts' passage counters and consumer lag, read from their /metrics."""

    def __init__(self, d: Deployment) -> None:
        self.ingest, self.alerts = d.services["ingest"].url, d.services["alerts"].url
        self.groups = {"ingest": d.prefix + INGEST_PASSAGES_GROUP, "alerts": d.prefix + ALERTS_PASSAGES_GROUP}

    async def read(self, client: httpx.AsyncClient) -> tuple[float, float, dict[str, float]]:
        """(stored, checked, {group: lag})."""
        i, a = await asyncio.gather(scrape(client, self.ingest), scrape(client, self.alerts))
        lags = {"ingest": lag_of(i, self.groups["ingest"]), "alerts": lag_of(a, self.groups["alerts"])}
        return (
            counter(i, "qzx_ingest_passages_total", "stored"),
            counter(a, "qzx_alerts_passages_total", "checked"),
            lags,
        )


async def sample_lag(gauges: Gauges, rec: Recorder, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        while not stop.is_set():
            try:
                _, _, lags = await gauges.read(client)
            except httpx.HTTPError:
                lags = {}
            for group, lag in lags.items():
                rec.minute.lag[group] = max(rec.minute.lag.get(group, 0.0), lag)
            await asyncio.sleep(2.0)


async def restart_alerts_with(d: Deployment, *, entries: int) -> tuple[float, int]:
    """``entries`` hotlist entries (``WATCHED`` among them) loaded, then alerts
    restarted so that its matcher's index holds them; (seconds to ready, entries)."""
    conn = await asyncpg.connect(to_plain_url(d.database_url))
    try:
        await load_hotlist(conn, entries=entries, hotlisted=list(WATCHED))
        count = await conn.fetchval("SELECT count(*) FROM alerts.hotlists")
    finally:
        await conn.close()
    alerts = d.services["alerts"]
    alerts.stop()
    started = time.monotonic()
    alerts.start()
    await alerts.wait_ready(timeout=600)
    return time.monotonic() - started, count


def render_minute(i: int, m: Minute) -> str:
    hits = (
        f"p50 {pct(m.hits_ms, 50):.0f} / p99 {pct(m.hits_ms, 99):.0f} ms ({len(m.hits_ms)})"
        if m.hits_ms
        else "-"
    )
    lag = "  ".join(f"{g} {v:,.0f}" for g, v in m.lag.items())
    rss = "  ".join(f"{n} {v:.0f}" for n, v in m.rss_mib.items())
    cpu = "  ".join(f"{n} {v:.0f}" for n, v in m.cpu_pct.items())
    return (
        f"minute {i}: sent {m.sent:,} (errors {m.send_errors})  stored {m.stored:,.0f}  checked {m.checked:,.0f}\n"
        f"  lag (most waiting): {lag or '-'}  hotlist hit → console: {hits}\n  RSS MiB: {rss}\n  CPU %: {cpu}"
    )


async def drive(
    d: Deployment, pids: dict[str, int], *, rate: float, minutes: float, entries: int
) -> dict[str, Any]:
    r: dict[str, Any] = {"rate": rate, "minutes": minutes}
    say(f"loading {entries:,} hotlist entries, restarting alerts")
    r["alerts_ready_s"], r["entries"] = await restart_alerts_with(d, entries=entries)
    pids["alerts"] = d.services["alerts"].proc.pid  # type: ignore[union-attr]
    say(f"(a) raw produce of {RAW_PRODUCE:,} passages to a scratch topic")
    scratch = f"{d.prefix}raw."
    await ensure_topics(d.bootstrap, prefix=scratch)
    sample = [
        m for b in generate(rate=rate, minutes=RAW_PRODUCE / rate / 60, start=datetime.now(UTC)) for m in b
    ]
    r["raw_produce_rate"] = await prefill(d.bootstrap, scratch + CAMERA_PASSAGES, sample)
    del sample
    begin = datetime.now(UTC) + timedelta(seconds=5)

    secret = d.services["alerts"].env.get("QZX_JWT_SECRET") or CommonSettings().jwt_secret
    token = mint_token(secret=secret, sub="bench-watch", role="province_commander", jur="37")
    rec, stop, ready, time_up = Recorder(), asyncio.Event(), asyncio.Event(), asyncio.Event()
    watcher = asyncio.create_task(watch_hits(d.services["alerts"].url, token, rec, ready))
    await asyncio.wait_for(ready.wait(), 30)
    gauges = Gauges(d)
    lagger = asyncio.create_task(sample_lag(gauges, rec, stop))
    await asyncio.sleep(max(0.0, begin.timestamp() - time.time()))  # the first batch's time
    say(f"(b) {rate:,.0f} passages/s for {minutes:g} min")
    started = time.monotonic()
    sampler = RssSampler(pids | {"bench": os.getpid()}, started, alone=frozenset({"bench"}))
    sampler_stop = asyncio.Event()
    sampler_task = asyncio.create_task(sampler.run(sampler_stop))
    sender = asyncio.create_task(
        send(
            d.bootstrap,
            d.prefix + CAMERA_PASSAGES,
            generate(rate=rate, minutes=minutes, start=begin),
            rate=rate,
            rec=rec,
            stop=time_up,
        )
    )
    rows: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=10) as client:
        last_stored, last_checked, _ = await gauges.read(client)
        first_stored, first_checked = last_stored, last_checked
        for i in range(1, int(minutes) + 1):
            await asyncio.sleep(max(0.0, started + 60 * i - time.monotonic()))
            for s in d.services.values():
                s.assert_running()
            m, rec.minute = rec.minute, Minute()
            stored, checked, _ = await gauges.read(client)
            m.stored, m.checked = stored - last_stored, checked - last_checked
            last_stored, last_checked = stored, checked
            m.rss_mib = {n: sum(v) / len(v) for n, v in sampler.take_minute().items() if v}
            m.cpu_pct = sampler.take_cpu()
            print(render_minute(i, m), flush=True)
            rows.append({"minute": i, **m.__dict__})
        time_up.set()  # a sender that fell behind stops with the run, its rest unsent
        r["sender_late_s"] = await sender
        run_s = time.monotonic() - started
        say(f"the camera stopped; waiting up to {DRAIN_S} s for the stack to drain")
        deadline = time.monotonic() + DRAIN_S
        while True:
            stored, checked, lags = await gauges.read(client)
            if checked - first_checked >= stored - first_stored > 0 and not any(lags.values()):
                break
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(2)
    stop.set()
    sampler_stop.set()
    await asyncio.gather(lagger, sampler_task)
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)
    sent = sum(x["sent"] for x in rows) + rec.minute.sent
    all_hits = [ms for x in rows for ms in x["hits_ms"]] + rec.minute.hits_ms
    r |= {
        "sent": sent,
        "send_errors": sum(x["send_errors"] for x in rows) + rec.minute.send_errors,
        "sent_rate": sent / run_s,
        "stored": stored - first_stored,
        "checked": checked - first_checked,
        "drained_lag": lags,
        "hits_timed": len(all_hits),
        "hotlisted_sent": len(rec.sent_at),
        "hit_p50_ms": pct(all_hits, 50),
        "hit_p99_ms": pct(all_hits, 99),
        "minutes_rows": [{k: v for k, v in x.items() if k != "hits_ms"} for x in rows],
    }
    tail = rows[-3:]
    r["lag_bounded"] = all(v <= rate * BOUNDED_S for x in tail for v in x["lag"].values())
    return r


def table(r: dict[str, Any]) -> str:
    ok = r["lag_bounded"] and r["hit_p99_ms"] < LATENCY_P99_MS and r["sent_rate"] >= 0.98 * r["rate"]
    lines = [
        ("hotlist entries in the index", f"{r['entries']:,} (alerts ready {r['alerts_ready_s']:.1f} s after its restart)"),
        ("(a) raw produce, one producer", f"{r['raw_produce_rate']:>10,.0f} passages/s"),
        ("(b) offered / sent", f"{r['rate']:>10,.0f} / {r['sent_rate']:,.0f} passages/s ({r['sent_rate'] / r['raw_produce_rate']:.2f} × raw produce; the sender {r['sender_late_s']:.1f} s late at the end; {r['send_errors']} errors)"),
        ("stored by ingest / checked by alerts", f"{r['stored']:,.0f} / {r['checked']:,.0f} of {r['sent']:,} sent (lag after the drain: {', '.join(f'{g} {v:,.0f}' for g, v in r['drained_lag'].items())})"),
        ("lag, the last three minutes", f"{'bounded' if r['lag_bounded'] else 'NOT bounded'} (≤ {BOUNDED_S} s of passages each)"),
        ("hotlist hit → console SSE", f"p50 {r['hit_p50_ms']:.0f} ms  p99 {r['hit_p99_ms']:.0f} ms  (goal p99 < {LATENCY_P99_MS}; {r['hits_timed']:,} of {r['hotlisted_sent']:,} hotlisted passages timed)"),
    ]  # fmt: skip
    body = aligned(lines)
    return f"checkpoint watch benchmark, whole stack\n{body}\n  => {'meets' if ok else 'MISSES'} the goals at {r['rate']:,.0f}/s"


async def run(*, rate: float, minutes: float, entries: int, out: Path) -> dict[str, Any]:
    async with own_stack("watch", out) as own:
        d = own.deployment
        pids = {name: s.proc.pid for name, s in d.services.items() if s.proc is not None}
        pids |= {"broker": own.broker.proc.pid, "postgres": own.postgres.proc.pid}
        return await drive(d, pids, rate=rate, minutes=minutes, entries=entries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qzx_dev.bench.checkpoint_watch", description=__doc__.split("\n")[0])  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="2 minutes, 100,000 entries")
    parser.add_argument("--rate", type=float, default=RATE, help=f"passages a second (default {RATE:,})")
    parser.add_argument("--minutes", type=float, help=f"the run's length (default {MINUTES})")
    parser.add_argument("--entries", type=int, help=f"hotlist entries (default {ENTRIES:,})")
    parser.add_argument(
        "--out", type=Path, help="folder for the services' logs (default: a new temporary one)"
    )
    args = parser.parse_args(argv)
    minutes = args.minutes or (2 if args.quick else MINUTES)
    entries = args.entries or (100_000 if args.quick else ENTRIES)
    out = args.out or Path(tempfile.mkdtemp(prefix="qzx-bench-watch-"))
    results = run_async(run(rate=args.rate, minutes=minutes, entries=entries, out=out))
    results["quick"] = args.quick
    print(table(results), flush=True)
    say(f"results written to {write_json(results, name='checkpoint_watch')}; logs in {out / 'logs'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
