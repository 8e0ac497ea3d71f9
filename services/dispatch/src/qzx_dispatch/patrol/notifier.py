"""Wake long-polls within a second of a change on any replica: one dedicated asyncpg connection
LISTENs on the task channel and fans each NOTIFY out to the waiters of that unit in this process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

KEEPALIVE_S = 10.0


class UnitNotifier:
    def __init__(self, *, dsn: str, channel: str) -> None:
        self.dsn = dsn
        self.channel = channel
        self.waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self.ready = asyncio.Event()
        self.stopping = asyncio.Event()
        # Set once the process is stopping: long-polls are no longer held (see ``drain``).
        self.draining = False
        self.notifications = 0
        # Each unit's latest change cursor as far as this listener knows (from reads and NOTIFYs),
        # valid only while the connection that heard them stays up: ``generation`` counts connections.
        self.known: dict[str, int] = {}
        self.generation = 0
        self.listening = False
        self._task: asyncio.Task[None] | None = None

    async def start(self, *, timeout: float = 30.0) -> None:
        self._task = asyncio.create_task(self._run(), name="dispatch-unit-notifier")
        await asyncio.wait_for(self.ready.wait(), timeout)

    def drain(self) -> None:
        """The process is stopping: every held long-poll answers now, as on its timeout, and none
        is held from here on (clients re-poll with their cursor, on another replica or after the
        restart, and lose nothing)."""
        self.draining = True
        self._wake_all()

    async def stop(self) -> None:
        self.drain()
        self.stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    @contextlib.contextmanager
    def subscription(self, unit_id: str) -> Iterator[asyncio.Event]:
        """An event set on every change to the unit's tasks (register before reading, so no change
        between the read and the wait is missed)."""
        event = asyncio.Event()
        self.waiters[unit_id].add(event)
        try:
            yield event
        finally:
            waiting = self.waiters.get(unit_id)
            if waiting is not None:
                waiting.discard(event)
                if not waiting:
                    del self.waiters[unit_id]

    def learn(self, unit_id: str, seq: int, generation: int) -> None:
        """Record a cursor read from the database while listening on connection ``generation``."""
        if self.listening and generation == self.generation and seq > self.known.get(unit_id, -1):
            self.known[unit_id] = seq

    def unchanged_since(self, unit_id: str, cursor: int) -> bool:
        """True when nothing after ``cursor`` has been committed for the unit (no read needed)."""
        return self.listening and self.known.get(unit_id) == cursor

    @property
    def waiting(self) -> int:
        return sum(len(w) for w in self.waiters.values())

    def _on_notify(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        self.notifications += 1
        unit_id, _, seq = payload.rpartition(":")
        if seq.isdigit() and int(seq) > self.known.get(unit_id, -1):
            self.known[unit_id] = int(seq)
        for event in self.waiters.get(unit_id, ()):
            event.set()

    def _wake_all(self) -> None:
        for events in self.waiters.values():
            for event in events:
                event.set()

    async def _run(self) -> None:
        backoff = 0.2
        while not self.stopping.is_set():
            conn = None
            try:
                conn = await asyncpg.connect(self.dsn)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                self.generation += 1
                self.known.clear()  # changes may have gone unheard while we were not listening
                await conn.add_listener(self.channel, self._on_notify)
                self.listening = True
                self.ready.set()
                self._wake_all()  # anything may have changed while we were not listening
                backoff = 0.2
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), KEEPALIVE_S)
                    if not lost.is_set():
                        await conn.fetchval("SELECT 1")  # detects a silently dead connection
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("task listener lost its connection; reconnecting", exc_info=True)
            finally:
                self.listening = False
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
