"""The metrics operators alert on that are not counted where they happen (docs/metrics.md).

Counters and histograms live beside the code that counts (``kafka.runner``, ``kafka.outbox``,
``web.observability``); this module holds the gauges that describe state: consumer lag, relay
backlogs, the database pool, held long-polls, and what a service adds as a probe
(alerts: pending and escalated alerts). State that costs a query is sampled every
``SAMPLE_S`` by each runtime's ``Sampler`` and served from its last sample, so a scrape never
waits on the database or the broker, and a stopped runtime's series disappear with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

if TYPE_CHECKING:
    from qzx_common.kafka.logrelay import LogRelay
    from qzx_common.kafka.runner import ConsumerRunner

log = logging.getLogger(__name__)

SAMPLE_S = 10.0
READY_TIMEOUT_S = 3.0
# The backlog is counted up to this many rows: past it the age says more than the count.
BACKLOG_COUNT_CAP = 100_000

AUTH_FAILURES = Counter(
    "qzx_auth_failures_total", "Failed authentications (token or exchange signature), by reason", ["reason"]
)
AUTH_THROTTLED = Counter(
    "qzx_auth_throttled_total", "Failed authentications answered 429 because the address used up its failures"
)
LONG_POLLS = Gauge("qzx_patrol_long_polls", "Patrol-app long-polls held open now")

Probe = Callable[[AsyncConnection], Awaitable[None]]


@dataclass
class Sample:
    """One runtime's last sample: (labels, value) per gauge."""

    lag: list[tuple[tuple[str, str, str], float]] = field(default_factory=list)
    backlog: list[tuple[tuple[str, str], float]] = field(default_factory=list)
    oldest: list[tuple[tuple[str, str], float]] = field(default_factory=list)
    pool: list[tuple[tuple[str, str], float]] = field(default_factory=list)
    ready: list[tuple[tuple[str], float]] = field(default_factory=list)


class Sampler:
    """Samples a runtime's engine, consumers and relays every ``every_s`` (``run`` until ``stop``)."""

    def __init__(
        self,
        *,
        schema: str,
        engine: AsyncEngine,
        consumers: list[ConsumerRunner],
        ready: Sequence[Callable[[], Awaitable[None]]] = (),
        every_s: float = SAMPLE_S,
    ) -> None:
        """``ready``: the checks of the service's /readyz, reported as ``qzx_ready``."""
        self.schema = schema
        self.engine = engine
        self.consumers = consumers
        self.ready_checks = list(ready)
        self.every_s = every_s
        self.log_relays: list[LogRelay] = []
        self.probes: list[Probe] = []
        self.last = Sample()
        self.stopping = asyncio.Event()
        _SAMPLERS.add(self)

    def watch(self, relay: LogRelay) -> None:
        """Report ``relay``'s backlog beside the outbox's."""
        self.log_relays.append(relay)

    def probe(self, probe: Probe) -> None:
        """Run ``probe`` (it sets gauges of its own) with each sample."""
        self.probes.append(probe)

    def stop(self) -> None:
        self.stopping.set()
        _SAMPLERS.discard(self)

    async def run(self) -> None:
        while not self.stopping.is_set():
            try:
                await self.sample()
            except Exception:
                log.warning("metrics sample failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.every_s)

    async def sample(self) -> None:
        s = Sample(ready=[((self.schema,), float(await self._ready()))])
        pool: Any = self.engine.sync_engine.pool
        s.pool = [((self.schema, "checked_out"), pool.checkedout()), ((self.schema, "size"), pool.size())]
        s.pool.append(((self.schema, "overflow"), max(0, pool.overflow())))
        s.lag = await _lags(self.consumers)
        async with self.engine.connect() as conn:
            count, age = (
                await conn.execute(
                    text(
                        f'SELECT (SELECT count(*) FROM (SELECT 1 FROM "{self.schema}".outbox LIMIT '
                        f"{BACKLOG_COUNT_CAP}) capped), (SELECT EXTRACT(EPOCH FROM now() - min(created_at)) "
                        f'FROM "{self.schema}".outbox)'
                    )
                )
            ).one()
            s.backlog.append(((self.schema, "outbox"), float(count)))
            s.oldest.append(((self.schema, "outbox"), float(age or 0)))
            for relay in self.log_relays:
                row = (await conn.execute(text(relay.backlog_sql), {"name": relay.name})).one_or_none()
                count, age = row or (0, 0)
                s.backlog.append(((self.schema, relay.name), float(count or 0)))
                s.oldest.append(((self.schema, relay.name), float(age or 0)))
            for probe in self.probes:
                await probe(conn)
        self.last = s

    async def _ready(self) -> bool:
        try:
            for check in self.ready_checks:
                await asyncio.wait_for(check(), READY_TIMEOUT_S)
        except Exception:
            return False
        return True


async def _lags(consumers: Iterable[ConsumerRunner]) -> list[tuple[tuple[str, str, str], float]]:
    """Per assigned partition: the broker's high watermark less the next offset to apply (what this
    process last committed, or the group's committed offset before its first commit here): records
    fetched but not yet applied count as lag, so a batch retried for long shows."""
    lags = []
    for runner in consumers:
        consumer = runner.consumer
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:  # nothing fetched from it yet
                continue
            done = runner.committed.get(tp)
            if done is None:
                with contextlib.suppress(Exception):  # revoked meanwhile
                    done = await consumer.committed(tp)
            if done is None:  # the group has committed nothing yet: from the partition's start
                with contextlib.suppress(Exception):
                    done = (await consumer.beginning_offsets([tp]))[tp]
            if done is not None:
                labels = (runner.group_id, tp.topic, str(tp.partition))
                lags.append((labels, float(max(0, highwater - done))))
    return lags


_SAMPLERS: weakref.WeakSet[Sampler] = weakref.WeakSet()


class _SampledGauges(Collector):
    def collect(self) -> Iterable[GaugeMetricFamily]:
        families = {
            "lag": GaugeMetricFamily(
                "qzx_consumer_lag",
                "Records on the broker not yet applied, per group and partition (high watermark less the next offset to apply)",
                labels=["group", "topic", "partition"],
            ),
            "backlog": GaugeMetricFamily(
                "qzx_relay_backlog",
                f"Rows waiting to be published by the outbox or a change-log relay (counted up to {BACKLOG_COUNT_CAP})",
                labels=["schema", "relay"],
            ),
            "oldest": GaugeMetricFamily(
                "qzx_relay_oldest_age_seconds",
                "Age of the oldest row waiting to be published (0 when none waits)",
                labels=["schema", "relay"],
            ),
            "pool": GaugeMetricFamily(
                "qzx_db_pool_connections",
                "The database pool: connections checked out, the pool's size and overflow connections open",
                labels=["schema", "state"],
            ),
            "ready": GaugeMetricFamily(
                "qzx_ready",
                "1 while the service passes the checks of its /readyz (database reachable, consumers advancing)",
                labels=["schema"],
            ),
        }
        for sampler in list(_SAMPLERS):
            for name, family in families.items():
                for labels, value in getattr(sampler.last, name):
                    family.add_metric(list(labels), value)
        yield from families.values()


REGISTRY.register(_SampledGauges())
