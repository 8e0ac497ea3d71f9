"""Server-sent events over the alert change log. Each event's id is the change-log id, so a client
that reconnects with ``Last-Event-ID`` gets exactly what it missed. Writers NOTIFY on commit; one
LISTEN connection per process wakes the streams (with a slow poll as a fallback), and one reader
per process (``ChangeTail``) fetches what was appended for all of them.

A stream sends what it reads in one chunk (one write to the socket however many events), and an
alert changed several times within it only in its latest state: a console shows an alert's
latest state, and a client resuming after any id it was sent still gets every later state."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from qzx_alerts.alerts import repository
from qzx_alerts.alerts.schemas import is_covert_hit_state
from qzx_common.db import driver_connection

log = logging.getLogger(__name__)

PAGE = 500
Change = tuple[int, str, bytes]  # (change-log id, alert id, payload)
STREAMS = Gauge("qzx_alerts_sse_streams", "SSE streams open")
TAIL_READS = Counter(
    "qzx_alerts_change_tail_reads_total", "Reads of the change log's tail for the SSE streams"
)


class ChangeNotifier:
    """Broadcasts "the change log grew" to every waiting stream."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._conn: asyncpg.Connection | None = None

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


class ChangeTail:
    """The newest change-log entries, read once per wake-up for every stream of the process: a
    commit costs one query however many consoles are connected. The entries kept cover every id
    above ``floor``; a stream further behind reads the log itself until it has caught up.

    The log's ids become visible in commit order (``repository.append_changes``), so reading past
    the highest id read so far never skips one."""

    def __init__(self, *, engine: AsyncEngine, notifier: ChangeNotifier, poll_s: float, keep: int = 5000):
        self.engine, self.notifier, self.poll_s, self.keep = engine, notifier, poll_s, keep
        self.floor: int | None = None  # entries above this id are all kept (None: nothing read yet)
        self._entries: list[tuple[int, str, str, bytes]] = []  # (id, admin code, alert id, payload), by id
        self._read_for: asyncio.Event | None = None  # the notifier's event when last read
        self._read_at = 0.0
        self._lock = asyncio.Lock()
        self.reads = 0  # queries of the log's tail (for tests and metrics)

    async def after(self, after: int, jur: str, limit: int) -> list[Change]:
        """Up to ``limit`` entries above ``after`` in jurisdiction ``jur``, oldest first."""
        await self._refresh()
        if self.floor is None or after < self.floor:
            async with self.engine.connect() as conn:
                rows = await repository.changes_after(
                    await driver_connection(conn), after=after, jur=jur, limit=limit
                )
            return [(r["id"], r["alert_id"], r["payload"]) for r in rows]
        out: list[Change] = []
        start = bisect.bisect_right(self._entries, after, key=lambda e: e[0])
        for change_id, admin_code, alert_id, payload in self._entries[start:]:
            if admin_code.startswith(jur):
                out.append((change_id, alert_id, payload))
                if len(out) == limit:
                    break
        return out

    def _fresh(self, woken: asyncio.Event) -> bool:
        """Read since the last wake-up (or, without NOTIFY, within half a poll)."""
        age = asyncio.get_running_loop().time() - self._read_at
        return woken is self._read_for and age < self.poll_s / 2

    async def _refresh(self) -> None:
        woken = self.notifier.current()
        if self._fresh(woken):
            return
        async with self._lock:  # the other streams wait for this read instead of making their own
            if self._fresh(woken):
                return
            self._read_for, self._read_at = woken, asyncio.get_running_loop().time()
            async with self.engine.connect() as conn:
                raw = await driver_connection(conn)
                if self.floor is None:
                    self.floor = await repository.last_change_id(raw)
                last = self._entries[-1][0] if self._entries else self.floor
                while True:
                    self.reads += 1
                    TAIL_READS.inc()
                    rows = await repository.changes_since(raw, after=last, limit=PAGE)
                    self._entries.extend(
                        (r["id"], r["admin_code"], r["alert_id"], r["payload"]) for r in rows
                    )
                    if len(rows) < PAGE:
                        break
                    last = rows[-1]["id"]
            if len(self._entries) > self.keep * 3 // 2:
                drop = len(self._entries) - self.keep
                self.floor = self._entries[drop - 1][0]
                del self._entries[:drop]


def format_event(change_id: int, payload: bytes) -> bytes:
    return b"id: %d\nevent: alert\ndata: %s\n\n" % (change_id, payload)


def coalesced(changes: list[Change], *, commander: bool) -> bytes:
    """The events of a page of changes as one chunk: each alert's latest state in it, in change-log
    order (covert checkpoint hits for commanders only)."""
    latest = {alert_id: change_id for change_id, alert_id, _ in changes}
    return b"".join(
        format_event(change_id, payload)
        for change_id, alert_id, payload in changes
        if latest[alert_id] == change_id and (commander or not is_covert_hit_state(payload))
    )


async def start_position(engine: AsyncEngine, last_event_id: int | None) -> int:
    """Resume after ``last_event_id``; a new client starts at the tail (what happens from now on)."""
    if last_event_id is not None:
        return last_event_id
    async with engine.connect() as conn:
        return await repository.last_change_id(await driver_connection(conn))


async def event_stream(
    *,
    tail: ChangeTail,
    jur: str,
    after: int,
    heartbeat_s: float,
    disconnected: Callable[[], Any],
    commander: bool = True,
) -> AsyncIterator[bytes]:
    yield b"retry: 1000\n\n"
    loop = asyncio.get_running_loop()
    last_sent = loop.time()
    STREAMS.inc()
    try:
        while not await disconnected():
            woken = tail.notifier.current()
            rows = await tail.after(after, jur, PAGE)
            if rows:
                if chunk := coalesced(rows, commander=commander):
                    yield chunk
                after = rows[-1][0]
                last_sent = loop.time()
                if len(rows) == PAGE:
                    continue
            elif loop.time() - last_sent >= heartbeat_s:
                yield b": keep-alive\n\n"
                last_sent = loop.time()
            await tail.notifier.wait(woken, tail.poll_s)
    finally:
        STREAMS.dec()
