"""Fault tests on the real stack: the three services as processes, the camera at a steady rate,
and faults injected: kill -9 of each service (restarted, as a supervisor does), the database
connections cut, slowed and dropped through the fault proxy, PostgreSQL stopped and started, the
broker killed and started again with its memory storage empty.

After each: the service ready again without a hand on it within READY_S, /readyz answered 503
while the database was gone (sampled throughout), and `qzx reconcile` clean (nothing unaccounted,
nothing twice, every P1/P2 alert with a task or a reason, no backlog) within SETTLE_S. `make test`
runs one injection of each fast fault; `make test-faults` (QZX_FAULTS_FULL=1) five kills of each
service, the long outages, 2 s of latency and the broker restart.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import orjson
import pytest
from faults_table import OUTCOMES, Outcome

from qzx_common.reconcile import Report
from qzx_common.reconcile.topics import read_range
from qzx_common.topics import CAMERA_VIOLATIONS, VIOLATIONS_ACCEPTED
from qzx_dev.embedded import (
    EmbeddedBroker,
    EmbeddedPostgres,
    create_service_role,
    free_port,
    start_broker,
    start_postgres,
)
from qzx_dev.faults.deployment import Deployment, deployment
from qzx_dev.faults.load import SteadyLoad
from qzx_dev.faults.proxy import FaultProxy
from qzx_dev.faults.services import ReadySampler
from qzx_dev.testing import Stack

FULL = os.environ.get("QZX_FAULTS_FULL") == "1"
full_only = pytest.mark.skipif(not FULL, reason="long fault runs: make test-faults")
pytestmark = [pytest.mark.faults, pytest.mark.db, pytest.mark.kafka, pytest.mark.timeout(900)]

RATE = 40  # camera events per second throughout
READY_S = 60  # the most a service may take to be ready again after a fault ends
# The most everything may take to land after a fault (reconcile clean). Every database byte of
# the three services passes through the fault proxy in the test's own event loop, so on a shared
# 2-core machine the backlog of five kills takes minutes to drain.
SETTLE_S = 300 if FULL else 120
KILLS = 5 if FULL else 1
HOLD_S = 10 if FULL else 5  # how long a slow database lasts


def with_port(url: str, port: int) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(port=port).render_as_string(hide_password=False)


class Run:
    """A deployment under steady load; ``settle`` stops the load and checks everything landed."""

    def __init__(self, d: Deployment) -> None:
        self.d = d
        self.load: SteadyLoad | None = None
        self.sampler = ReadySampler(list(d.services.values()))
        self.seed = 100

    def start_load(self) -> SteadyLoad:
        self.seed += 1
        self.load = SteadyLoad(self.d.bootstrap, self.d.prefix + CAMERA_VIOLATIONS, RATE, seed=self.seed)
        self.load.start()
        return self.load

    async def ready(self) -> float:
        return await self.d.wait_ready(timeout=READY_S)

    async def settle(self) -> Report:
        assert self.load is not None
        await self.load.stop()
        report = await self.d.settled(timeout=SETTLE_S)
        conn = await asyncpg.connect(self.d.database_url)
        try:
            stored = {r[0] for r in await conn.fetch("SELECT event_id FROM ingest.violations")}
        finally:
            await conn.close()
        valid = {m.event_id for m in self.load.sent if m.kind == "valid"}
        assert valid <= stored, f"{len(valid - stored)} acknowledged events lost"
        return report


def twice(report: Report) -> int:
    return sum(x.count for x in report.of("stored_twice"))


def sent_since(load: SteadyLoad, mark: int) -> int:
    return len(load.sent) - mark


@pytest.fixture(scope="module")
async def proxied(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Run, FaultProxy]]:
    """Services whose database connections all pass through a fault proxy."""
    pg_port = int(stack.server_url.rsplit(":", 1)[1].split("/")[0])
    async with FaultProxy(pg_port) as proxy:
        logs = tmp_path_factory.mktemp("faults")
        async with deployment(stack, logs, start=False) as d:
            for s in d.services.values():
                s.env["QZX_DATABASE_URL"] = with_port(s.env["QZX_DATABASE_URL"], proxy.port)
                # A partition's half-open commands give up within READY_S of the heal.
                s.env["QZX_DB_COMMAND_TIMEOUT_S"] = "15"
                s.start()
            await d.wait_ready()
            await d.seed_demo()
            run = Run(d)
            run.sampler.start()
            try:
                yield run, proxy
            finally:
                await run.sampler.stop()


async def kill_and_restart(run: Run, names: list[str], kills: int) -> tuple[int, float]:
    """``kills`` kill -9s of each of ``names`` in turn under the load, each restarted at once;
    returns the events sent meanwhile and the longest time to ready."""
    load = run.start_load()
    await asyncio.sleep(2)
    mark, ready = len(load.sent), 0.0
    for name in names:
        service = run.d.services[name]
        for _ in range(kills):
            await asyncio.sleep(1.5)  # batches land every few ms at this rate: the kill finds work
            service.kill()
            service.start()
            ready = max(ready, await service.wait_ready(timeout=READY_S))
    return sent_since(load, mark), ready


async def test_kill_9_each_service_under_load(proxied: tuple[Run, FaultProxy]) -> None:
    run, _ = proxied
    # make test: each service once, one settle; make test-faults: five each, settled apart.
    plan = [[n] for n in run.d.services] if FULL else [list(run.d.services)]
    for names in plan:
        in_flight, ready = await kill_and_restart(run, names, KILLS)
        report = await run.settle()
        OUTCOMES.append(
            Outcome(f"kill -9 {', '.join(names)}", KILLS * len(names), in_flight, 0, twice(report), ready)
        )
        assert ready < READY_S


async def test_database_connections_cut(proxied: tuple[Run, FaultProxy]) -> None:
    run, proxy = proxied
    load = run.start_load()
    await asyncio.sleep(2)
    mark, cut = len(load.sent), 0
    for _ in range(3):
        cut += proxy.cut()
        await asyncio.sleep(1.0)
    assert cut > 0, "the services held no database connection to cut"
    ready = await run.ready()
    in_flight = sent_since(load, mark)
    report = await run.settle()
    OUTCOMES.append(
        Outcome(f"database connections cut ({cut} connections)", 3, in_flight, 0, twice(report), ready)
    )


@pytest.mark.parametrize("latency_s", [0.2, pytest.param(2.0, marks=full_only)])
async def test_database_slowed(proxied: tuple[Run, FaultProxy], latency_s: float) -> None:
    run, proxy = proxied
    load = run.start_load()
    await asyncio.sleep(2)
    mark = len(load.sent)
    proxy.slow(latency_s)
    await asyncio.sleep(HOLD_S)
    proxy.pass_through()
    ready = await run.ready()
    in_flight = sent_since(load, mark)
    report = await run.settle()
    OUTCOMES.append(
        Outcome(f"database +{latency_s * 1000:.0f} ms for {HOLD_S} s", 1, in_flight, 0, twice(report), ready)
    )


@full_only
async def test_database_dropped(proxied: tuple[Run, FaultProxy]) -> None:
    """A partition: connections stay open and nothing passes; /readyz must say so (its checks
    answer within 3 s whatever the database does), and the services must come back once it
    heals: a command on a half-open connection gives up after QZX_DB_COMMAND_TIMEOUT_S, its
    connection is discarded and the batch retried (db.create_engine)."""
    run, proxy = proxied
    load = run.start_load()
    await asyncio.sleep(2)
    mark = len(load.sent)
    proxy.drop()
    start = time.monotonic()
    await asyncio.sleep(12)
    end = time.monotonic()
    proxy.pass_through()
    ready = await run.ready()
    in_flight = sent_since(load, mark)
    for name in run.d.services:
        seen = run.sampler.between(name, start + 4, end)
        assert 503 in seen, f"{name}'s /readyz during the partition: {seen}"
    report = await run.settle()
    OUTCOMES.append(Outcome("database dropped (partition) for 12 s", 1, in_flight, 0, twice(report), ready))


@pytest.fixture
async def private_pg(tmp_path: Path) -> AsyncIterator[EmbeddedPostgres]:
    pg = await asyncio.to_thread(
        start_postgres, data_dir=tmp_path / "pg", port=free_port(), log_path=tmp_path / "pg.log", fast=True
    )
    try:
        await asyncio.to_thread(create_service_role, pg.url())
        yield pg
    finally:
        await asyncio.to_thread(pg.stop)


@pytest.mark.parametrize("outage_s", [8 if not FULL else 20])
async def test_postgres_stopped_and_started(
    stack: Stack, private_pg: EmbeddedPostgres, tmp_path: Path, outage_s: int
) -> None:
    async with deployment(stack, tmp_path, database_server=private_pg.url()) as d:
        run = Run(d)
        run.sampler.start()
        try:
            load = run.start_load()
            await asyncio.sleep(3)
            mark = len(load.sent)
            await asyncio.to_thread(private_pg.stop)
            start = time.monotonic()
            await asyncio.sleep(outage_s)
            end = time.monotonic()
            pg = await asyncio.to_thread(
                start_postgres,
                data_dir=private_pg.data_dir,
                port=private_pg.port,
                log_path=tmp_path / "pg.log",
                fast=True,
            )
            private_pg.proc = pg.proc  # the fixture stops the new one
            ready = await run.ready()
            in_flight = sent_since(load, mark)
            for name in d.services:
                seen = run.sampler.between(name, start + 1, end)
                assert 503 in seen, f"{name}'s /readyz while PostgreSQL was down: {seen}"
            report = await run.settle()
        finally:
            await run.sampler.stop()
        OUTCOMES.append(
            Outcome(f"PostgreSQL stopped for {outage_s} s", 1, in_flight, 0, twice(report), ready)
        )


@pytest.fixture
async def private_broker(tmp_path: Path) -> AsyncIterator[EmbeddedBroker]:
    broker = await asyncio.to_thread(start_broker, port=free_port(), log_path=tmp_path / "broker.log")
    try:
        yield broker
    finally:
        await asyncio.to_thread(broker.stop)


async def event_ids(d: Deployment, query: str) -> set[str]:
    conn = await asyncpg.connect(d.database_url)
    try:
        return {r[0] for r in await conn.fetch(query)}
    finally:
        await conn.close()


async def on_topic(d: Deployment, topic: str) -> set[str]:
    """The event ids of ``topic``'s records (the accepted topic's are JSON with an event_id)."""
    ids: set[str] = set()
    async for chunk in read_range(d.bootstrap, d.prefix + topic, timeout_s=60):
        ids.update(orjson.loads(r.value)["event_id"] for r in chunk)
    return ids


# What a broker that lost its memory leaves reconcile to report, and nothing else once it has
# drained: records published before the restart are no longer on their topics. Not `not_scored`:
# every record on the accepted topic now was published after the restart, and must be scored.
MEMORY_LOSS = {"not_forwarded", "dlq_missing", "priority_unhandled", "task_disagrees"}


async def drained_after_memory_loss(d: Deployment, *, timeout: float) -> Report:
    """Reconcile until nothing is in flight (no backlog) and nothing but what the lost topics
    explain is reported; fails with the last report."""
    deadline = time.monotonic() + timeout
    while True:
        for s in d.services.values():
            s.assert_running()
        report = await d.reconcile()
        if all(x.kind in MEMORY_LOSS for x in report.discrepancies):
            return report
        if time.monotonic() > deadline:
            raise AssertionError(f"not drained within {timeout}s:\n{report.render()}")
        await asyncio.sleep(1.0)


BROKER_DOWN_S = 5


@full_only  # 85 s with its own deployment's start: more than the fast suite's share
async def test_broker_restarted_with_its_memory_lost(
    stack: Stack, private_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """The broker (memory storage) killed under load and started again empty. What ingest had
    acknowledged (stored in its database) must all still be there, and everything sent after the
    restart must flow end to end; what the broker alone held is lost, and the test counts it:
    camera events it had acknowledged that ingest had not yet stored, and the records of the
    downstream topics that their consumers had not yet read."""
    async with deployment(replace(stack, bootstrap=private_broker.bootstrap), tmp_path) as d:
        run = Run(d)
        run.sampler.start()
        try:
            load = run.start_load()
            await asyncio.sleep(8 if FULL else 4)
            mark = len(load.sent)
            private_broker.proc.kill()
            private_broker.proc.wait()
            start = time.monotonic()
            await asyncio.sleep(1)  # acknowledgements already on their way are counted as before
            acked_before = load.sent[: len(load.sent)]
            await asyncio.sleep(BROKER_DOWN_S - 1)
            # Nothing reaches ingest while the broker is away: this is all it ever acknowledged.
            stored_before = await event_ids(d, "SELECT event_id FROM ingest.violations")
            end = time.monotonic()
            restarted = await asyncio.to_thread(
                start_broker, port=private_broker.port, log_path=tmp_path / "broker.log"
            )
            private_broker.proc = restarted.proc  # the fixture stops the new one
            # Nobody creates the topics again: each service's topic check does (QZX_TOPIC_CHECK_S).
            # Without it the consumers never recover (docs/reliability.md): they rejoin with the
            # topics they knew, the new broker assigns them, and each commit is refused
            # (UnknownTopicOrPartition) and retried for ever, so every partition they hold stalls.
            ready = await run.ready()
            in_flight = sent_since(load, mark)
            await load.stop()
            report = await drained_after_memory_loss(d, timeout=SETTLE_S)
            down = {name: run.sampler.between(name, start + 1, end) for name in d.services}
        finally:
            await run.sampler.stop()

        stored = await event_ids(d, "SELECT event_id FROM ingest.violations")
        assert stored_before <= stored, f"{len(stored_before - stored)} events ingest had stored are gone"
        acked_after = {m.event_id for m in load.sent[len(acked_before) :] if m.kind == "valid"}
        assert acked_after <= stored, f"{len(acked_after - stored)} events sent after the restart lost"
        forwarded = await on_topic(d, VIOLATIONS_ACCEPTED)
        assert stored - stored_before <= forwarded, "events stored after the restart not forwarded"
        lost = {m.event_id for m in acked_before if m.kind == "valid"} - stored
        sighted = await event_ids(d, "SELECT event_id FROM alerts.sightings")
        costs = {x.kind: x.count for x in report.discrepancies}
        print(
            f"\nbroker restart: {len(acked_before)} camera events acknowledged before it, {len(lost)} of the"
            f" valid ones never stored; {len(stored_before)} stored by ingest before it, all still there,"
            f" {len(stored_before - forwarded)} no longer on {VIOLATIONS_ACCEPTED}, of which"
            f" {len(stored_before - sighted)} never scored by alerts; after the restart {len(acked_after)}"
            f" valid events sent, all stored and forwarded; reconcile reports {costs or 'nothing'};"
            f" /readyz while the broker was away: { {n: sorted(set(map(str, v))) for n, v in down.items()} }"
        )
        OUTCOMES.append(
            Outcome("broker restarted, memory lost", 1, in_flight, len(lost), twice(report), ready)
        )
