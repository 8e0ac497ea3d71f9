"""The patrol-app simulator closes the loop against the real dispatch app (in process, with its
alerts.v1 consumer, the demo organisation, the real PostgreSQL and broker): an alert produced to
alerts.v1 becomes a task that a simulated crew signs, drives to, reports on scene and resolves;
with --ignore-share 1 nothing is signed and the sign-by deadline reassigns and escalates."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from qzx_common.contracts.alerts import Alert
from qzx_common.contracts.geo import haversine_km
from qzx_common.contracts.tasks import Outcome, Task
from qzx_common.kafka.admin import ensure_topics
from qzx_common.topics import ALERTS
from qzx_common.web.auth import mint_token
from qzx_dev.demo.seed import seed_demo
from qzx_dev.embedded import create_database, drop_database, free_port
from qzx_dev.patrol_sim import SimConfig, Stats, run
from qzx_dev.patrol_sim.api import DutyUnit, Identity
from qzx_dev.patrol_sim.behaviour import OUTCOMES_STATIC, plan_for, waypoints
from qzx_dev.patrol_sim.unit import UnitClient
from qzx_dev.testing import Stack, eventually
from qzx_dispatch.clock import SystemClock
from qzx_dispatch.main import create_app
from qzx_dispatch.settings import DispatchSettings

JINAN = {"lat": 36.651, "lon": 117.120, "admin_code": "370102"}


class OffsetClock(SystemClock):
    """Real time plus an offset the test moves (the sign-by deadline without waiting for it)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return super().now() + self.offset


# -- the plan a crew follows (no I/O) -----------------------------------------------------------


def test_a_plan_is_the_same_for_the_same_task_and_seed() -> None:
    assert plan_for("T-1", moving=False, seed=3, ignore_share=0.1) == plan_for(
        "T-1", moving=False, seed=3, ignore_share=0.1
    )
    plans = {plan_for(f"T-{i}", moving=False, seed=3, ignore_share=0.1) for i in range(50)}
    assert len(plans) == 50


def test_outcomes_and_ignores_follow_the_configured_shares() -> None:
    n = 4000
    plans = [plan_for(f"T-{i}", moving=False, seed=1, ignore_share=0.25) for i in range(n)]
    assert abs(sum(p.ignore for p in plans) / n - 0.25) < 0.03
    mix = Counter(p.outcome for p in plans)
    for outcome, share in OUTCOMES_STATIC.items():
        assert abs(mix[outcome] / n - share) < 0.03, outcome
    assert all(0 < p.sign_share < 1 for p in plans)
    assert not any(plan_for(f"T-{i}", moving=False, seed=1, ignore_share=0).ignore for i in range(200))
    assert all(plan_for(f"T-{i}", moving=False, seed=1, ignore_share=1).ignore for i in range(200))


def test_moving_targets_are_mostly_intercepted_or_not_found() -> None:
    plans = [plan_for(f"T-{i}", moving=True, seed=1, ignore_share=0) for i in range(1000)]
    mix = Counter(p.outcome for p in plans)
    assert (mix[Outcome.intercepted] + mix[Outcome.not_found]) / 1000 > 0.65


def test_waypoints_move_steadily_to_the_destination() -> None:
    start, end = (36.60, 117.00), (36.70, 117.20)
    points = waypoints(start, end, 4)
    assert points[-1] == end and len(points) == 4
    left = [haversine_km(*p, *end) for p in [start, *points]]
    assert left == sorted(left, reverse=True)


def _task(**extra: Any) -> Task:
    now = datetime.now(UTC)
    data = {
        "id": "T-chase",
        "alert_id": "A-1",
        "unit_id": "U370100-01",
        "status": "assigned",
        "priority": "P1",
        "target": JINAN,
        "summary": "drunk driving",
        "sign_by": (now + timedelta(seconds=60)).isoformat(),
        "version": 1,
        "created_at": now.isoformat(),
    }
    return Task.model_validate(data | extra)


@pytest.mark.parametrize(("ignores_chase", "started"), [(False, True), (True, False)])
async def test_an_ignored_task_escalated_in_place_is_answered_unless_the_crew_ignores_that_too(
    ignores_chase: bool, started: bool
) -> None:
    unit = DutyUnit(
        "U370100-01", "Jinan 01", Identity("O1", "patrol_officer", "3701", "U370100-01"), 36.6, 117.1
    )
    config = SimConfig(secret="s", ignore_share=1.0)
    client = UnitClient(unit, api=None, config=config, stats=Stats(), stop=asyncio.Event())  # type: ignore[arg-type]
    taken: list[str] = []
    client.start = lambda task, plan: taken.append(task.id)  # type: ignore[method-assign]
    client.on_task(_task())
    assert client.stats.ignored == 1 and taken == []
    client.ignored["T-chase"] = replace(client.ignored["T-chase"], ignore_chase=ignores_chase)
    client.on_task(_task(version=2, escalated=True))
    assert taken == (["T-chase"] if started else [])
    client.on_task(_task(version=3, status="reassigned", escalated=True))
    assert "T-chase" not in client.ignored and client.stats.seen == 1


# -- against dispatch -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim_stack(stack: Stack) -> Iterator[Stack]:
    """A database and topics of our own: dispatch's own tests may run a dispatch app in this session."""
    name = f"qzx_patrolsim_{uuid.uuid4().hex[:8]}"
    url = create_database(stack.server_url, name)
    yield replace(stack.isolated("patrolsim"), database_url=url)
    drop_database(stack.server_url, name)


@pytest.fixture(scope="module")
def clock() -> OffsetClock:
    return OffsetClock()


@pytest.fixture(scope="module")
async def dispatch(sim_stack: Stack, clock: OffsetClock) -> AsyncIterator[Any]:
    """dispatch with the demo organisation and its alerts.v1 consumer; the deadline watcher is
    ticked by the test."""
    settings = DispatchSettings(
        **sim_stack.db_settings(),
        kafka_bootstrap=sim_stack.bootstrap,
        topic_prefix=sim_stack.topic_prefix,
        log_json=False,
    )
    app = create_app(settings, watch=False, clock=clock)
    async with app.router.lifespan_context(app):
        await seed_demo(settings.jwt_secret, dispatch_app=app, now=clock.now())
        yield app


@pytest.fixture(scope="module")
async def producer(sim_stack: Stack) -> AsyncIterator[AIOKafkaProducer]:
    await ensure_topics(sim_stack.bootstrap, prefix=sim_stack.topic_prefix)
    p = AIOKafkaProducer(bootstrap_servers=sim_stack.bootstrap, linger_ms=2)
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
async def console(dispatch: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A dispatcher's view of the tasks and units."""
    token = mint_token(
        secret=dispatch.state.settings.jwt_secret, sub="test-dispatcher", role="dispatcher", jur="37"
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=dispatch),
        base_url="http://dispatch",
        headers={"Authorization": f"Bearer {token}"},
    ) as c:
        yield c


def alert(**extra: Any) -> Alert:
    now = datetime.now(UTC)
    return Alert.model_validate(
        {
            "id": f"A-{uuid.uuid4().hex[:12]}",
            "status": "new",
            "priority": "P1",
            "score": 93.0,
            "factors": [{"name": "bac", "value": 96, "contribution": 60, "why": "BAC 96 ≥ 80"}],
            "violations": ["drunk_driving"],
            "plate": "鲁A7Q218",
            "admin_code": JINAN["admin_code"],
            "location": {**JINAN, "road": "G2", "km": 412.3},
            "first_seen": (now - timedelta(seconds=5)).isoformat(),
            "last_seen": (now - timedelta(seconds=5)).isoformat(),
            "count": 1,
            "event_ids": [f"e-{uuid.uuid4().hex[:8]}"],
        }
        | extra
    )


async def produce(producer: AIOKafkaProducer, stack: Stack, a: Alert) -> None:
    await producer.send_and_wait(stack.topic_prefix + ALERTS, a.model_dump_json().encode(), key=a.id.encode())


async def tasks_of(console: httpx.AsyncClient, alert_id: str) -> list[Task]:
    r = await console.get("/v1/tasks", params={"alert_id": alert_id})
    assert r.status_code == 200, r.text
    return sorted(
        (Task.model_validate(t) for t in r.json()["items"]), key=lambda t: (t.created_at, t.version)
    )


def simulator(dispatch: Any, stats: Stats, stop: asyncio.Event, **overrides: Any) -> asyncio.Task[Stats]:
    config = SimConfig(
        secret=dispatch.state.settings.jwt_secret,
        dispatch_url="http://dispatch",
        jur="3701",
        speedup=600,
        seed=11,
        wait_s=5,
        progress_every_s=1.0,
    )
    return asyncio.create_task(
        run(
            replace(config, **overrides),
            stop=stop,
            stats=stats,
            transport=httpx.ASGITransport(app=dispatch),
        )
    )


async def stop_simulator(sim: asyncio.Task[Stats], stop: asyncio.Event) -> Stats:
    stop.set()
    return await asyncio.wait_for(sim, 10)


@pytest.mark.db
@pytest.mark.kafka
async def test_a_crew_signs_drives_and_resolves_the_task(
    dispatch: Any, console: httpx.AsyncClient, producer: AIOKafkaProducer, sim_stack: Stack
) -> None:
    stats, stop = Stats(), asyncio.Event()
    sim = simulator(dispatch, stats, stop, ignore_share=0.0)
    try:
        await eventually(lambda: _true(stats.units > 0), timeout=15)
        assert stats.units == 8  # Jinan's demo units on duty at any hour (two start groups, e-bike, post)
        a = alert()
        await produce(producer, sim_stack, a)

        async def resolved() -> Task | None:
            tasks = await tasks_of(console, a.id)
            return tasks[-1] if tasks and tasks[-1].status.value == "resolved" else None

        task = await eventually(resolved, timeout=30, interval=0.1)
    finally:
        final = await stop_simulator(sim, stop)
    assert task.outcome is not None and task.unit_id.startswith("U370100-")
    assert task.version == 5  # assigned, signed, en_route, on_scene, resolved: one change each
    assert task.note and task.note.startswith("patrol-sim: ")
    assert final.seen >= 1 and final.signed >= 1 and final.resolved >= 1 and final.ignored == 0
    assert sum(final.outcomes.values()) == final.resolved
    async with dispatch.state.runtime.engine.connect() as conn:
        keys = (
            await conn.scalars(
                text("SELECT key FROM dispatch.idempotency_keys WHERE key LIKE :k"),
                {"k": f"patrol-sim:{task.id}:%"},
            )
        ).all()
    assert sorted(keys) == sorted(
        f"patrol-sim:{task.id}:{s}" for s in ("sign", "en_route", "on_scene", "feedback")
    )
    unit = (await console.get(f"/v1/units/{task.unit_id}")).json()
    where = task.intercept_point or task.target
    assert haversine_km(unit["location"]["lat"], unit["location"]["lon"], where.lat, where.lon) < 0.05


@pytest.mark.db
@pytest.mark.kafka
async def test_with_ignore_share_one_nothing_is_signed_and_the_deadline_escalates(
    dispatch: Any,
    console: httpx.AsyncClient,
    producer: AIOKafkaProducer,
    sim_stack: Stack,
    clock: OffsetClock,
) -> None:
    stats, stop = Stats(), asyncio.Event()
    sim = simulator(dispatch, stats, stop, ignore_share=1.0)
    try:
        await eventually(lambda: _true(stats.units > 0), timeout=15)
        a = alert()
        await produce(producer, sim_stack, a)
        await eventually(lambda: _true(stats.ignored >= 1), timeout=30, interval=0.05)
        # A signing crew at this speed-up signs within 0.1 s of seeing the task.
        await asyncio.sleep(1.0)
        [first] = await tasks_of(console, a.id)
        assert first.status.value == "assigned"

        clock.offset += timedelta(seconds=61)
        assert (await dispatch.state.service.watcher.tick())["sign_by:reassigned"] == 1
        await eventually(lambda: _true(stats.ignored >= 2), timeout=15, interval=0.05)
        await asyncio.sleep(1.0)
        tasks = await tasks_of(console, a.id)
    finally:
        final = await stop_simulator(sim, stop)
    assert [t.status.value for t in tasks] == ["reassigned", "assigned"]
    assert tasks[1].escalated and tasks[1].unit_id != first.unit_id
    assert final.signed == 0 and final.resolved == 0 and final.seen == final.ignored == 2


async def _true(value: bool) -> bool:
    return value


def test_the_command_waits_for_an_unreachable_dispatch_and_stops_on_sigterm() -> None:
    port = free_port()
    env = {**os.environ, "QZX_DISPATCH_URL": f"http://127.0.0.1:{port}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qzx_dev.patrol_sim", "--progress-every", "0.5"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if "tasks seen" in line:  # the progress loop runs although nothing is reachable
                break
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = "".join(lines) + rest
    assert proc.returncode == 0, log
    assert f"cannot reach dispatch at http://127.0.0.1:{port}" in log
    assert "stopped: units 0" in log
