"""The soak's driver: the embedded servers, a fault-suite deployment of the three services, the
load, a line of figures a minute, then the RSS slopes, `qzx reconcile` and the plots."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from qzx_common.contracts.geo import CITIES
from qzx_common.settings import CommonSettings, to_plain_url
from qzx_common.topics import CAMERA_VIOLATIONS
from qzx_common.web.auth import mint_token
from qzx_dev.bench.dispatch_longpoll import PatrolConnection
from qzx_dev.bench.dispatch_stack import seed_units
from qzx_dev.faults.deployment import Deployment
from qzx_dev.soak import clients
from qzx_dev.soak.plots import write_plots
from qzx_dev.soak.rss import RssSampler
from qzx_dev.soak.stack import own_stack
from qzx_dev.soak.stats import (
    Minute,
    Window,
    close_minute,
    latency_table,
    render_kinds,
    render_minute,
    render_slopes,
    rss_slopes,
)

SETTLE_S = 180.0  # after the camera stops: time for what is in flight to land before reconcile


@dataclass(frozen=True)
class Config:
    rate: float
    long_polls: int
    streams: int
    minutes: int
    handle_s: float  # an officer's feedback after signing (the unit is busy meanwhile)
    warmup: float
    out: Path


def say(text: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {text}", flush=True)


async def soak(cfg: Config) -> int:
    try:
        async with own_stack("soak", cfg.out) as own:
            d = own.deployment
            pids = {name: s.proc.pid for name, s in d.services.items() if s.proc is not None}
            pids |= {
                "broker": own.broker.proc.pid,
                "postgres": own.postgres.proc.pid,
                "soak-clients": os.getpid(),
            }
            return await _drive(cfg, d, pids)
    finally:
        say(f"logs in {cfg.out / 'logs'}")


async def _seed(database_url: str, units: int) -> list[str]:
    per_city = {
        c.code: units // len(CITIES) + (1 if i < units % len(CITIES) else 0) for i, c in enumerate(CITIES)
    }
    conn = await asyncpg.connect(to_plain_url(database_url))
    try:
        ids = await seed_units(conn, per_city=per_city, now=datetime.now(UTC))
        # One sworn officer a unit, on its crew: the phone's token is theirs (``officer_id``).
        crews = (ids, [officer_id(u) for u in ids])
        await conn.execute(
            "INSERT INTO dispatch.officers (id, name, kind, admin_code, skills, active) "
            "SELECT x.officer, 'soak ' || u.call_sign, 'sworn', u.admin_code, '{}', true "
            "FROM unnest($1::text[], $2::text[]) AS x(unit, officer) JOIN dispatch.units u ON u.id = x.unit",
            *crews,
        )
        await conn.execute(
            "UPDATE dispatch.rosters r SET crew = ARRAY[x.officer] "
            "FROM unnest($1::text[], $2::text[]) AS x(unit, officer) WHERE r.unit_id = x.unit",
            *crews,
        )
        return ids
    finally:
        await conn.close()


def officer_id(unit_id: str) -> str:
    return f"soak-{unit_id}"


async def _connect(
    cfg: Config, d: Deployment, holder: clients.WindowHolder, sent: clients.SentTimes, stop: asyncio.Event
) -> list[asyncio.Task[None]]:
    """Every long-poll and stream connected and holding (ramped, not a SYN flood)."""
    secret = d.services["dispatch"].env.get("QZX_JWT_SECRET") or CommonSettings().jwt_secret
    units = await _seed(d.database_url, cfg.long_polls)
    readies, tasks = [], []
    for i, uid in enumerate(units):
        token = mint_token(secret=secret, sub=officer_id(uid), role="patrol_officer", jur="37", unit_id=uid)
        conn = PatrolConnection(d.services["dispatch"].port, token)
        officer = clients.Officer(
            PatrolConnection(d.services["dispatch"].port, token),
            handle_s=cfg.handle_s,
            holder=holder,
            stop=stop,
        )
        readies.append(asyncio.Event())
        poll = clients.long_poll(conn, holder=holder, stop=stop, ready=readies[-1], officer=officer)
        tasks.append(asyncio.create_task(poll))
        if i % 250 == 249:
            await asyncio.sleep(0.05)
    for i in range(cfg.streams):
        token = mint_token(secret=secret, sub=f"soak-console-{i}", role="province_commander", jur="37")
        readies.append(asyncio.Event())
        stream = clients.sse_stream(
            d.services["alerts"].url,
            token,
            holder=holder,
            sent=sent,
            stop=stop,
            ready=readies[-1],
            timed=i == 0,
        )
        tasks.append(asyncio.create_task(stream))
    deadline = time.monotonic() + 300
    while (n := sum(e.is_set() for e in readies)) < len(readies):
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {n}/{len(readies)} clients connected within 5 minutes")
        say(f"{n}/{len(readies)} clients connected")
        await asyncio.sleep(5)
    return tasks


async def _drive(cfg: Config, d: Deployment, pids: dict[str, int]) -> int:
    holder, clients_stop, camera_stop, sampler_stop = (
        [Window()],
        asyncio.Event(),
        asyncio.Event(),
        asyncio.Event(),
    )
    sent = clients.SentTimes()
    tasks = await _connect(cfg, d, holder, sent, clients_stop)
    say(
        f"{cfg.long_polls} long-polls and {cfg.streams} SSE streams holding; camera at {cfg.rate:g}/s for {cfg.minutes} min"
    )
    ramp, holder[0] = holder[0], Window()  # the ramp's polls are not the soak's
    ramp_errors = ramp.client_errors
    if ramp_errors:
        say(f"{ramp_errors} client errors while connecting: {render_kinds(ramp.error_kinds)}")
    started = time.monotonic()
    sampler = RssSampler(pids, started, alone=frozenset({"soak-clients"}))
    sampler_task = asyncio.create_task(sampler.run(sampler_stop))
    topic = d.prefix + CAMERA_VIOLATIONS
    camera = asyncio.create_task(
        clients.camera(d.bootstrap, topic, rate=cfg.rate, holder=holder, sent=sent, stop=camera_stop)
    )
    minutes: list[Minute] = []
    for i in range(1, cfg.minutes + 1):
        await asyncio.sleep(max(0.0, started + 60 * i - time.monotonic()))
        if camera.done():
            camera.result()  # the camera died: raise its error
        for s in d.services.values():
            s.assert_running()
        window, holder[0] = holder[0], Window()
        minutes.append(close_minute(i, window, sampler.take_minute(), sampler.take_cpu()))
        print(render_minute(minutes[-1]), flush=True)
    camera_stop.set()
    await camera
    sampler_stop.set()
    await sampler_task
    clients_stop.set()
    await clients.cancel_all(tasks)
    late = holder[0]  # the last batch's acknowledgements after the final mark
    slopes = rss_slopes(sampler.series, warmup_min=cfg.warmup)
    print(f"\nlatency per minute:\n{latency_table(minutes)}\n", flush=True)
    print(render_slopes(slopes, warmup_min=cfg.warmup), flush=True)
    errors = ramp_errors + sum(m.errors for m in minutes) + late.send_errors
    total_sent = sum(m.sent for m in minutes) + late.sent
    print(
        f"total: sent {total_sent:,} ({total_sent / (60 * cfg.minutes):,.0f}/s), errors {errors}", flush=True
    )
    for path in write_plots(minutes, sampler.series, cfg.out):
        say(f"wrote {path}")
    rc = await _reconcile(d)
    return 1 if errors or rc else 0


async def _reconcile(d: Deployment) -> int:
    """`qzx reconcile` itself, until it is clean or SETTLE_S has passed: what was in flight
    lands meanwhile, and the watcher's work goes on (a re-dispatch's outbox row may be caught in
    flight by one run). Prints the last run's report."""
    say("waiting for the pipeline to drain, then qzx reconcile")
    deadline = time.monotonic() + SETTLE_S
    while True:
        proc = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "qzx_common.reconcile"],
            env=os.environ | d.env(),
            check=False,
            capture_output=True,
            text=True,
        )
        if proc.returncode == 0 or time.monotonic() > deadline:
            print(proc.stdout + proc.stderr, end="", flush=True)
            return proc.returncode
        await asyncio.sleep(5)


def default_warmup(minutes: int) -> float:
    """Two minutes, or half a shorter run."""
    return min(2.0, minutes / 2)
