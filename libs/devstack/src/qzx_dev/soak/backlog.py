"""Memory under a consumer backlog: the camera topic fills with ``--events`` events while ingest is
stopped, then ingest starts and drains it (and alerts the forwarded events behind it). Every
second: each service's RSS and how many events ingest has stored and alerts has scored. Printed:
the drain's rate, each process's RSS before, at its peak and at the end, and a plot.

    uv run python -m qzx_dev.soak.backlog [--events 1000000] [--out DIR]

The consumers fetch a bounded amount per partition (``max_partition_fetch_bytes``) and apply one
batch at a time, so a backlog costs time, not memory: the peak RSS should not grow with it."""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import psutil
from aiokafka import AIOKafkaProducer

from qzx_common.settings import to_plain_url
from qzx_common.topics import CAMERA_VIOLATIONS
from qzx_dev.faults.deployment import Deployment
from qzx_dev.simulator import EventGenerator
from qzx_dev.soak.rss import tree_rss
from qzx_dev.soak.stack import own_stack
from qzx_dev.soak.stats import MIB

WATCHED = ("ingest", "alerts", "dispatch")


def say(text: str) -> None:
    print(f"[backlog {time.strftime('%H:%M:%S')}] {text}", flush=True)


@dataclass
class Samples:
    """(seconds since ingest started, value) per series."""

    rss: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: {n: [] for n in WATCHED})
    stored: list[tuple[float, int]] = field(default_factory=list)
    scored: list[tuple[float, int]] = field(default_factory=list)


async def fill(d: Deployment, events: int) -> float:
    """``events`` valid camera events (no duplicates, nothing malformed) on the camera topic; the rate."""
    gen = EventGenerator(seed=23, dup_share=0.0, bad_share=0.0)
    producer = AIOKafkaProducer(bootstrap_servers=d.bootstrap, linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    started, sent = time.monotonic(), 0
    try:
        while sent < events:
            batch = gen.batch(min(5000, events - sent))
            futures = [await producer.send(d.prefix + CAMERA_VIOLATIONS, m.value, key=m.key) for m in batch]
            await asyncio.gather(*futures)
            sent += len(batch)
            if sent % 100_000 < len(batch):
                say(f"{sent:,} events on the topic")
    finally:
        await producer.stop()
    return events / (time.monotonic() - started)


async def drain(d: Deployment, events: int, *, timeout_s: float) -> Samples:
    """Start ingest and sample every second until alerts has scored every event (or the timeout)."""
    conn = await asyncpg.connect(to_plain_url(d.database_url))
    samples = Samples()
    try:
        d.services["ingest"].start()
        started = time.monotonic()
        while (at := time.monotonic() - started) < timeout_s:
            for name in WATCHED:
                proc = d.services[name].proc
                if proc is not None and proc.poll() is None:
                    samples.rss[name].append((at, tree_rss(psutil.Process(proc.pid)) / MIB))
            stored = await conn.fetchval("SELECT count(*) FROM ingest.violations")
            scored = await conn.fetchval("SELECT count(*) FROM alerts.sightings")
            samples.stored.append((at, stored))
            samples.scored.append((at, scored))
            if int(at) % 10 == 0:
                say(f"{at:4.0f} s: stored {stored:,}, scored {scored:,}")
            if scored >= events:
                break
            await asyncio.sleep(1.0)
    finally:
        await conn.close()
    return samples


def report(samples: Samples, events: int, fill_rate: float) -> str:
    def done_at(series: list[tuple[float, int]]) -> str:
        """When the series reached ``events``, and its rate from its first step (start-up aside)."""
        first = next((t for t, n in series if n > 0), None)
        at = next((t for t, n in series if n >= events), None)
        if first is None or at is None:
            return f"not done ({series[-1][1]:,} of {events:,})"
        return f"{at:.0f} s ({events / max(at - first, 1.0):,.0f}/s after the first row at {first:.0f} s)"

    lines = [
        f"backlog: {events:,} events put on the camera topic at {fill_rate:,.0f}/s while ingest was stopped",
        f"ingest stored them all in {done_at(samples.stored)}; alerts scored them all in {done_at(samples.scored)}",
        "",
        "process     RSS MiB: first   peak    last   (sampled every second while draining)",
    ]
    for name, series in samples.rss.items():
        if series:
            values = [v for _, v in series]
            lines.append(f"{name:<10}          {values[0]:6.0f} {max(values):6.0f} {values[-1]:7.0f}")
    return "\n".join(lines)


def plot(samples: Samples, events: int, out: Path) -> Path:
    from matplotlib.figure import Figure  # only when a plot is made

    fig = Figure(figsize=(9, 5))
    ax = fig.add_subplot()
    for name, series in samples.rss.items():
        if series:
            ax.plot([t for t, _ in series], [v for _, v in series], label=f"{name} RSS (MiB)")
    ax.set_xlabel("seconds since ingest started")
    ax.set_ylabel("RSS (MiB)")
    right = ax.twinx()
    right.plot(
        [t for t, _ in samples.stored], [n / 1000 for _, n in samples.stored], "k--", label="stored (k)"
    )
    right.plot(
        [t for t, _ in samples.scored], [n / 1000 for _, n in samples.scored], "k:", label="scored (k)"
    )
    right.set_ylabel("events (thousands)")
    ax.legend(loc="upper left")
    right.legend(loc="lower right")
    ax.set_title(f"draining a backlog of {events:,} camera events")
    path = out / "backlog-rss.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


async def run(events: int, out: Path, timeout_s: float) -> int:
    async with own_stack("backlog", out) as own:
        d = own.deployment
        d.services["ingest"].stop()
        say(f"ingest stopped; putting {events:,} events on the camera topic")
        fill_rate = await fill(d, events)
        say("starting ingest")
        samples = await drain(d, events, timeout_s=timeout_s)
        print(report(samples, events, fill_rate), flush=True)
        say(f"wrote {plot(samples, events, out)}")
        return 0 if samples.scored and samples.scored[-1][1] >= events else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qzx_dev.soak.backlog", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path(".state/backlog"))
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the drain")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    return asyncio.run(run(args.events, args.out, args.timeout))


if __name__ == "__main__":
    raise SystemExit(main())
