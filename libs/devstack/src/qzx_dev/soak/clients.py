"""The soak's load: a camera at a steady rate, patrol long-poll clients and console SSE streams, each
recording into the driver's current ``Window`` (``holder[0]``, swapped at every minute mark)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from datetime import datetime

import httpx
import orjson
from aiokafka import AIOKafkaProducer

from qzx_dev.bench.dispatch_longpoll import PatrolConnection
from qzx_dev.simulator import EventGenerator
from qzx_dev.soak.stats import Window

WindowHolder = list[Window]  # one element: the minute being recorded
TASK_TO_PATROL = "task→patrol (long-poll)"
CAMERA_TO_CONSOLE = "camera→console (SSE)"
KEEP_SENT_S = 300.0  # an alert's first event older than this is not timed


class SentTimes:
    """When each valid event was acknowledged by the broker (wall clock), for the last few minutes:
    the simulator's ``captured_at`` has whole seconds, too coarse to time the pipeline by."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.order: deque[tuple[float, str]] = deque()

    def record(self, event_id: str, at: float) -> None:
        self.at.setdefault(event_id, at)
        self.order.append((at, event_id))
        while self.order and self.order[0][0] < at - KEEP_SENT_S:
            self.at.pop(self.order.popleft()[1], None)


def _age(iso: str, received: float) -> float:
    return received - datetime.fromisoformat(iso).timestamp()


async def camera(
    bootstrap: str, topic: str, *, rate: float, holder: WindowHolder, sent: SentTimes, stop: asyncio.Event
) -> None:
    """The simulator's messages at ``rate`` per second (3 % duplicates, 2 % malformed, as a camera
    gateway sends them); a send the broker does not acknowledge is an error, not retried."""
    gen = EventGenerator(seed=17, dup_share=0.03, bad_share=0.02)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, request_timeout_ms=10_000)
    await producer.start()
    try:
        started, due_total = time.monotonic(), 0
        while not stop.is_set():
            due = int((time.monotonic() - started) * rate) - due_total
            batch = gen.batch(min(max(due, 0), 2_000))
            due_total += len(batch)
            futures = [await producer.send(topic, m.value, key=m.key) for m in batch]
            outcomes = await asyncio.gather(*futures, return_exceptions=True)
            acked = time.time()
            for m, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    holder[0].send_errors += 1
                    continue
                holder[0].sent += 1
                if m.kind == "valid" and m.event_id:
                    sent.record(m.event_id, acked)
            await asyncio.sleep(0.02)
    finally:
        await producer.stop()


class Officer:
    """The crew member behind a phone: signs for a task at once and gives feedback ``handle_s``
    later, which frees the unit (on a connection of its own; the poll holds the other)."""

    def __init__(self, conn: PatrolConnection, *, handle_s: float, holder: WindowHolder, stop: asyncio.Event):
        self.conn, self.handle_s, self.holder, self.stop = conn, handle_s, holder, stop
        self.lock = asyncio.Lock()  # one request at a time on the connection
        self.working: set[asyncio.Task[None]] = set()

    def take(self, task_id: str) -> None:
        work = asyncio.create_task(self._handle(task_id))
        self.working.add(work)
        work.add_done_callback(self.working.discard)

    async def _handle(self, task_id: str) -> None:
        if await self._act(task_id, "sign", {}):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), self.handle_s)
            if not self.stop.is_set():
                await self._act(task_id, "feedback", {"outcome": "warned"})

    async def _act(self, task_id: str, action: str, body: dict[str, str]) -> bool:
        w = self.holder[0]
        path, key = f"/v1/patrol/tasks/{task_id}/{action}", f"{task_id}-{action}"
        async with self.lock:
            # The server closes a keep-alive connection idle for 5 s (the officer was working): a
            # failed try goes once more on a new one, which the idempotency key makes safe.
            for last in (False, True):
                try:
                    status, _ = await self.conn.post(path, body, idempotency_key=key)
                    break
                except (OSError, asyncio.IncompleteReadError, ValueError) as e:
                    self.conn.close()
                    if last:
                        w.client_error(f"{action} {type(e).__name__}")
                        return False
        if status in (404, 409):  # reassigned to another unit, or closed, meanwhile: the officer's news
            w.conflicts += 1
            return False
        if status != 200:
            w.client_error(f"{action} {status}")
            return False
        w.actions += 1
        return True


async def long_poll(
    conn: PatrolConnection,
    *,
    holder: WindowHolder,
    stop: asyncio.Event,
    ready: asyncio.Event,
    officer: Officer,
) -> None:
    """One patrol phone: long-polls its unit's tasks for good; a new assigned task's age at receipt
    is the task→patrol latency, and its ``officer`` works it."""
    cursor, first, seen = 0, True, set[str]()
    while not stop.is_set():
        try:
            status, raw = await conn.get(f"/v1/patrol/tasks?cursor={cursor}&wait={0 if first else 30}")
        except (OSError, asyncio.IncompleteReadError, ValueError) as e:
            if stop.is_set():
                return
            holder[0].client_error(f"long-poll {type(e).__name__}")
            conn.close()
            await asyncio.sleep(0.5)
            continue
        received = time.time()
        if status != 200:
            holder[0].client_error(f"long-poll {status}")
            await asyncio.sleep(0.5)
            continue
        holder[0].polls += 1
        body = orjson.loads(raw)
        cursor = body["cursor"]
        for t in body["tasks"]:
            if t["status"] == "assigned" and t["id"] not in seen and not first:
                seen.add(t["id"])
                holder[0].latency(TASK_TO_PATROL, _age(t["created_at"], received))
                officer.take(t["id"])
        if first:
            first = False
            ready.set()
    conn.close()
    await cancel_all(list(officer.working))
    officer.conn.close()


async def sse_stream(
    url: str,
    token: str,
    *,
    holder: WindowHolder,
    sent: SentTimes,
    stop: asyncio.Event,
    ready: asyncio.Event,
    timed: bool,
) -> None:
    """One console: the alert stream, reconnecting after its last event id. Every stream counts its
    events; a ``timed`` one also reads them, and a new alert's age at receipt, from its event's
    acknowledgement by the broker, is the camera→console latency. (Reading every event of every
    stream would make this process, which also drives the camera, the run's bottleneck: tens of
    thousands of events a second.)"""
    last_id: str | None = None
    timeout = httpx.Timeout(10.0, read=60.0)
    async with httpx.AsyncClient(base_url=url, timeout=timeout) as client:
        while not stop.is_set():
            headers = {"Authorization": f"Bearer {token}"} | ({"Last-Event-ID": last_id} if last_id else {})
            try:
                async with client.stream("GET", "/v1/alerts/stream", headers=headers) as resp:
                    if resp.status_code != 200:
                        holder[0].client_error(f"SSE {resp.status_code}")
                        await asyncio.sleep(1.0)
                        continue
                    ready.set()
                    pending = b""
                    async for chunk in resp.aiter_bytes():
                        pending += chunk
                        end = pending.rfind(b"\n\n")
                        if end < 0:
                            continue
                        blocks, pending = pending[:end].split(b"\n\n"), pending[end + 2 :]
                        last_id = _read_blocks(blocks, holder[0], sent, timed=timed) or last_id
            except (httpx.HTTPError, ValueError) as e:
                if stop.is_set():
                    return
                holder[0].client_error(f"SSE {type(e).__name__}")
                await asyncio.sleep(1.0)


def _read_blocks(blocks: list[bytes], w: Window, sent: SentTimes, *, timed: bool) -> str | None:
    """Count the alert events among complete SSE blocks (``id``, ``event``, ``data`` lines); the
    last event id among them."""
    last_id = None
    for block in blocks:
        if not block.startswith(b"id: "):
            continue  # the retry line, a keep-alive comment
        w.sse_events += 1
        head, _, rest = block.partition(b"\n")
        last_id = head[4:].decode()
        if timed:
            _alert_event(rest.partition(b"data: ")[2], w, sent)
    return last_id


def _alert_event(data: bytes, w: Window, sent: SentTimes) -> None:
    received = time.time()
    alert = orjson.loads(data)
    if alert.get("status") == "new" and alert.get("count") == 1:  # first sight, not a later change
        at = sent.at.get(alert["event_ids"][0]) if alert.get("event_ids") else None
        if at is not None:
            w.latency(CAMERA_TO_CONSOLE, received - at)


async def cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    for t in tasks:
        t.cancel()
    with contextlib.suppress(Exception):
        await asyncio.gather(*tasks, return_exceptions=True)
