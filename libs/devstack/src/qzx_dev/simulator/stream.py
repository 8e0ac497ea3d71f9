"""Send the generated stream to Kafka at a steady rate.

Sends are pipelined (``send()`` futures in flight, bounded) rather than awaited one by one, and a
token bucket holds the rate; progress goes to stderr every few seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from aiokafka import AIOKafkaProducer

from qzx_common.kafka.admin import ensure_topics
from qzx_common.topics import CAMERA_VIOLATIONS
from qzx_dev.simulator.accidents import AccidentGenerator
from qzx_dev.simulator.generator import EventGenerator
from qzx_dev.simulator.passages import PassageGenerator

MAX_IN_FLIGHT = 20_000
MAX_CHUNK = 1_000


class TokenBucket:
    """``rate`` tokens a second, bursts up to a fifth of a second's worth; ``rate=None``: unlimited."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.capacity = max(1.0, (rate or 0) / 5)
        self.tokens = self.capacity if rate else 0.0
        self.last = time.monotonic()

    async def take(self, wanted: int, stop: asyncio.Event | None = None) -> int:
        """Wait for at least one token; return how many of ``wanted`` may go now (0 once ``stop``
        is set)."""
        if not self.rate:
            return wanted
        while stop is None or not stop.is_set():
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                granted = min(wanted, int(self.tokens))
                self.tokens -= granted
                return granted
            # in short naps: a slow stream (accidents, a few a minute) still sees its stop soon
            await asyncio.sleep(min(0.5, (1 - self.tokens) / self.rate))
        return 0


@dataclass
class StreamStats:
    sent: int = 0
    duplicates: int = 0
    malformed: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


async def stream(
    generator: EventGenerator | PassageGenerator | AccidentGenerator,
    *,
    bootstrap: str,
    topic_prefix: str = "",
    topic_name: str = CAMERA_VIOLATIONS,
    shape: Callable[[datetime], float] | None = None,
    rate: float | None = 200.0,
    count: int | None = None,
    duration: float | None = None,
    stop: asyncio.Event | None = None,
    progress: TextIO | None = None,
    progress_every: float = 5.0,
) -> StreamStats:
    """Produce until ``count`` messages, ``duration`` seconds or ``stop``, whichever comes first;
    progress lines go to ``progress`` (e.g. ``sys.stderr``) when given. ``shape`` scales ``rate``
    by the simulated time (a day's traffic curve)."""
    topic = topic_prefix + topic_name
    await ensure_topics(bootstrap, prefix=topic_prefix, names=(topic_name,))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=10, max_batch_size=256 * 1024)
    await producer.start()
    stats = StreamStats()
    stop = stop or asyncio.Event()
    bucket = TokenBucket(rate)
    in_flight: deque[asyncio.Future[object]] = deque()
    reporter = Progress(stats, generator, progress, progress_every)
    try:
        while not stop.is_set():
            if duration is not None and stats.elapsed >= duration:
                break
            if shape is not None and rate:
                bucket.rate = rate * shape(generator.clock.now())
            wanted = MAX_CHUNK if count is None else min(MAX_CHUNK, count - stats.sent)
            if wanted <= 0:
                break
            for message in generator.batch(await bucket.take(wanted, stop)):
                in_flight.append(await producer.send(topic, message.value, key=message.key))
                stats.sent += 1
                stats.duplicates += message.kind == "duplicate"
                stats.malformed += message.kind == "malformed"
            await _reap(in_flight, keep=MAX_IN_FLIGHT)
            reporter.maybe_report()
            await asyncio.sleep(0)  # let the producer's sender task run between chunks
        await _reap(in_flight, keep=0)
        await producer.flush()
    finally:
        await producer.stop()
    reporter.report(final=True)
    return stats


async def _reap(in_flight: deque[asyncio.Future[object]], *, keep: int) -> None:
    """Drop finished sends (raising their errors); wait for the oldest beyond ``keep``."""
    while in_flight and (in_flight[0].done() or len(in_flight) > keep):
        await in_flight.popleft()


class Progress:
    def __init__(
        self,
        stats: StreamStats,
        gen: EventGenerator | PassageGenerator | AccidentGenerator,
        out: TextIO | None,
        every: float,
    ) -> None:
        self.stats, self.gen, self.out, self.every = stats, gen, out, every
        self.last_at, self.last_sent = time.monotonic(), 0

    def maybe_report(self) -> None:
        if time.monotonic() - self.last_at >= self.every:
            self.report()

    def report(self, *, final: bool = False) -> None:
        now, s = time.monotonic(), self.stats
        rate = (s.sent - self.last_sent) / max(now - self.last_at, 1e-9)
        if final:
            rate = s.sent / max(s.elapsed, 1e-9)
        self.last_at, self.last_sent = now, s.sent
        if self.out is None:
            return
        at = self.gen.last_clock
        clock = f" · clock {at:%Y-%m-%d %H:%M} +08:00" if at else ""
        label = "done" if final else "sent"
        what = (
            f"accidents {s.sent:,} rural {self.gen.counts.rural:,} at hazard points "
            f"{self.gen.counts.at_hazards:,} fatal {self.gen.counts.fatal:,}"
            if isinstance(self.gen, AccidentGenerator)
            else f"passages {s.sent:,} ({rate:,.0f}/s) hotlisted {self.gen.counts.hotlisted:,}"
            f" cloned plates {self.gen.counts.clones:,}"
            if isinstance(self.gen, PassageGenerator)
            else f"{s.sent:,} ({rate:,.0f}/s) dups {s.duplicates:,} bad {s.malformed:,}"
            f" clones {self.gen.counts.clones:,} racing groups {self.gen.counts.racing_groups:,}"
        )
        self.out.write(f"simulate: {label} {what}{clock}\n")
        self.out.flush()
