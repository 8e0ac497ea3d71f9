"""The fleet: find the units on duty through dispatch's API, run one patrol app per unit, follow
shift changes, report progress, stop cleanly."""

from __future__ import annotations

import asyncio
import logging

import httpx

from qzx_dev.patrol_sim.api import (
    Backoff,
    DispatchApi,
    DutyUnit,
    Identity,
    Refused,
    Tokens,
    Unavailable,
    on_duty_units,
    sleep_or_stop,
)
from qzx_dev.patrol_sim.config import SimConfig
from qzx_dev.patrol_sim.stats import Stats, report_progress
from qzx_dev.patrol_sim.unit import UnitClient

log = logging.getLogger("qzx_dev.patrol_sim")

# Each unit holds a long-poll and at most one other call at a time.
CONNECTIONS_PER_UNIT = 2
UNITS_WITHOUT_LIMIT = 1000


async def run(
    config: SimConfig,
    *,
    stop: asyncio.Event | None = None,
    stats: Stats | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Stats:
    """Run until ``stop`` is set (or ``config.duration_s`` passes). ``transport`` lets tests talk
    to an in-process app."""
    stop = stop or asyncio.Event()
    stats = stats or Stats()
    connections = CONNECTIONS_PER_UNIT * (config.units or UNITS_WITHOUT_LIMIT) + 20
    client = httpx.AsyncClient(
        base_url=config.dispatch_url,
        transport=transport,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        timeout=httpx.Timeout(10.0, read=config.wait_s + 15.0, pool=30.0),
    )
    async with client:
        await Fleet(DispatchApi(client, Tokens(config.secret)), config, stats, stop).run()
    return stats


class Fleet:
    def __init__(self, api: DispatchApi, config: SimConfig, stats: Stats, stop: asyncio.Event) -> None:
        self.api, self.config, self.stats, self.stop = api, config, stats, stop
        self.dispatcher = Identity(sub="patrol-sim", role="dispatcher", jur=config.jur)
        self.clients: dict[str, tuple[UnitClient, asyncio.Task[None]]] = {}

    def in_progress(self) -> int:
        return sum(len(c.handlers) for c, _ in self.clients.values())

    async def run(self) -> None:
        log.info(
            "dispatch %s · jur %s · units %s · speed-up %g · ignore share %.0f%%",
            self.config.dispatch_url,
            self.config.jur,
            self.config.units or "all on duty",
            self.config.speedup,
            self.config.ignore_share * 100,
        )
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.config.duration_s, self.stop.set) if self.config.duration_s else None
        progress = asyncio.create_task(
            report_progress(self.stats, self.in_progress, self.stop, self.config.progress_every_s)
        )
        backoff = Backoff(first=1.0, cap=10.0)
        try:
            while not self.stop.is_set():
                wait = self.config.rediscover_every_s if await self.discover(backoff) else backoff.delay()
                await sleep_or_stop(self.stop, wait)
        finally:
            self.stop.set()
            if timer:
                timer.cancel()
            await self.stop_clients(list(self.clients))
            await progress
            log.info("stopped: %s", self.stats.line(in_progress=0))

    async def discover(self, backoff: Backoff) -> bool:
        try:
            units = await on_duty_units(self.api, self.dispatcher)
        except Unavailable as exc:
            self._discovery_failed(backoff, f"cannot reach dispatch at {self.config.dispatch_url} ({exc})")
            return False
        except Refused as exc:
            hint = " – is QZX_JWT_SECRET the secret dispatch uses?" if exc.status == 401 else ""
            self._discovery_failed(backoff, f"dispatch refused the unit discovery: {exc}{hint}")
            return False
        if backoff.reset():
            log.info("dispatch reachable again")
        await self.follow(units)
        return True

    def _discovery_failed(self, backoff: Backoff, why: str) -> None:
        self.stats.errors += 1
        if backoff.failures == 0 or (backoff.failures + 1) % 10 == 0:
            log.warning("%s; will retry", why)

    async def follow(self, units: list[DutyUnit]) -> None:
        """Start apps for units that came on duty; stop idle ones that went off duty (an off-duty
        unit holds no active task: the board would show it busy)."""
        on_duty = {u.id for u in units}
        gone = [uid for uid, (c, _) in self.clients.items() if uid not in on_duty and not c.busy]
        await self.stop_clients(gone)
        started = []
        for unit in units:
            if self.config.units is not None and len(self.clients) >= self.config.units:
                break
            if unit.id not in self.clients:
                self.start(unit)
                started.append(unit.id)
        self.stats.units = len(self.clients)
        if started or gone:
            log.info(
                "%d unit(s) on duty in %s; apps running %d (started %d, stopped %d)",
                len(units),
                self.config.jur,
                len(self.clients),
                len(started),
                len(gone),
            )

    def start(self, unit: DutyUnit) -> None:
        client = UnitClient(unit, api=self.api, config=self.config, stats=self.stats, stop=self.stop)
        task = asyncio.create_task(client.run(), name=f"patrol-sim-{unit.id}")
        self.clients[unit.id] = (client, task)
        task.add_done_callback(lambda done: self._ended(unit.id, done))

    def _ended(self, unit_id: str, done: asyncio.Task[None]) -> None:
        if self.clients.get(unit_id, (None, None))[1] is done:
            del self.clients[unit_id]  # discovery starts it again if the unit is still on duty
            self.stats.units = len(self.clients)

    async def stop_clients(self, unit_ids: list[str]) -> None:
        tasks = [self.clients.pop(uid)[1] for uid in unit_ids if uid in self.clients]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.stats.units = len(self.clients)
