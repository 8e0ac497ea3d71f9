"""Server-sent events over the alert change log. Each event's id is the change-log id, so a client
that reconnects with ``Last-Event-ID`` gets exactly what it missed. Writers NOTIFY on commit; one
LISTEN connection per process wakes the streams (with a slow poll as a fallback)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from qzx_alerts.alerts import repository
from qzx_common.kafka.outbox import driver_connection

log = logging.getLogger(__name__)

PAGE = 500


class ChangeNotifier:
    """Broadcasts "the change log grew" to every waiting stream."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._conn: Any = None

    def bump(self, *_: Any) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def current(self) -> asyncio.Event:
        """Take this before reading the log, then ``wait`` on it: a change in between still wakes."""
        return self._event

    @staticmethod
    async def wait(event: asyncio.Event, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def start(self, dsn: str) -> None:
        try:
            self._conn = await asyncpg.connect(dsn)
            await self._conn.add_listener(repository.NOTIFY_CHANNEL, self.bump)
        except (OSError, asyncpg.PostgresError) as exc:  # polling still works
            log.warning("LISTEN unavailable; SSE falls back to polling", extra={"error": str(exc)})
            self._conn = None

    async def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()


def format_event(change_id: int, payload: bytes) -> bytes:
    return b"id: %d\nevent: alert\ndata: %s\n\n" % (change_id, payload)


async def start_position(engine: AsyncEngine, last_event_id: int | None) -> int:
    """Resume after ``last_event_id``; a new client starts at the tail (what happens from now on)."""
    if last_event_id is not None:
        return last_event_id
    async with engine.connect() as conn:
        return await repository.last_change_id(await driver_connection(conn))


async def event_stream(
    *,
    engine: AsyncEngine,
    notifier: ChangeNotifier,
    jur: str,
    after: int,
    poll_s: float,
    heartbeat_s: float,
    disconnected: Callable[[], Any],
) -> AsyncIterator[bytes]:
    yield b"retry: 1000\n\n"
    loop = asyncio.get_running_loop()
    last_sent = loop.time()
    while not await disconnected():
        woken = notifier.current()
        async with engine.connect() as conn:
            rows = await repository.changes_after(
                await driver_connection(conn), after=after, jur=jur, limit=PAGE
            )
        for r in rows:
            yield format_event(r["id"], r["payload"])
            after = r["id"]
        if rows:
            last_sent = loop.time()
            if len(rows) == PAGE:
                continue
        elif loop.time() - last_sent >= heartbeat_s:
            yield b": keep-alive\n\n"
            last_sent = loop.time()
        await notifier.wait(woken, poll_s)
