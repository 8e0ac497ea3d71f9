"""The three services in one event loop, and what the end-to-end tests do with them.

``System`` holds the running apps (ingest, alerts, dispatch: each with its own settings object
pointing at one database and one topic prefix) and offers the clients a camera, a console and a
patrol phone would use: aiokafka for the camera topic, HTTP (in-process ASGI) for the APIs, a real
HTTP server for the alerts SSE stream. ``settled()`` is the barrier that lets a test assert that
something did NOT happen without sleeping: every consumer group has committed up to the end of
its topics and every outbox is empty.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import orjson
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import RecordMetadata
from sqlalchemy import text

from qzx_common.contracts.devices import DEVICES, Device
from qzx_common.reconcile.topics import high_watermarks
from qzx_common.topics import CAMERA_VIOLATIONS
from qzx_common.web.auth import mint_token
from qzx_dev.embedded import free_port
from qzx_dev.samples import make_event
from qzx_dev.testing import eventually

CST = timezone(timedelta(hours=8))
_PLATE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


class OffsetClock:
    """Real time plus an offset the tests move forward (dispatch's deadlines without sleeping)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def new_plate(letter: str) -> str:
    """A fresh plate of the city whose plate letter is ``letter``: tests never meet."""
    return f"鲁{letter}" + "".join(random.choices(_PLATE_CHARS, k=5))


def device(device_id: str) -> Device:
    return next(d for d in DEVICES if d.device_id == device_id)


def camera_event(
    at: Device,
    *,
    plate: str | None,
    violation: str,
    captured_at: datetime,
    measurements: dict[str, float] | None = None,
    vehicle_class: str = "car",
) -> dict[str, Any]:
    """A ViolationEvent as a camera at ``at`` sends it (docs/contract.md)."""
    return make_event(
        event_id=f"{at.device_id}-{uuid.uuid4().hex[:16]}",
        device_id=at.device_id,
        device_kind=at.kind,
        captured_at=captured_at.isoformat(),
        violation=violation,
        plate=plate,
        vehicle_class=vehicle_class,
        location={"lat": at.lat, "lon": at.lon, "admin_code": at.admin_code, "road": at.road, "km": at.km},
        measurements=measurements or {},
    )


def local_2300(now: datetime | None = None) -> datetime:
    """Today 23:00 (UTC+8) unless that is more than 5 minutes ahead (ingest refuses it), else yesterday's."""
    now = (now or datetime.now(CST)).astimezone(CST)
    at = now.replace(hour=23, minute=0, second=0, microsecond=0)
    return at if at - now <= timedelta(minutes=5) else at - timedelta(days=1)


@dataclass
class SseReader:
    """Collects the alerts stream's ``alert`` events with the monotonic time each arrived."""

    url: str
    bearer: str
    events: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)
    open: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    failure: BaseException | None = None

    async def run(self) -> None:
        try:
            await self._read()
            raise AssertionError("the alerts stream ended")
        except Exception as exc:
            self.failure = exc
            self.changed.set()
            raise

    async def _read(self) -> None:
        headers = {"Authorization": f"Bearer {self.bearer}"}
        async with (
            httpx.AsyncClient(base_url=self.url, timeout=httpx.Timeout(10, read=None)) as c,
            c.stream("GET", "/v1/alerts/stream", headers=headers) as r,
        ):
            assert r.status_code == 200, await r.aread()
            assert r.headers["content-type"].startswith("text/event-stream")
            fields: dict[str, str] = {}
            async for line in r.aiter_lines():
                self.open.set()  # the first line (retry:) comes after the start position is fixed
                if line:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
                    continue
                if fields.get("event") == "alert":
                    self.events.append((time.monotonic(), int(fields["id"]), orjson.loads(fields["data"])))
                    self.changed.set()
                fields = {}

    async def wait_for(self, match: Callable[[dict[str, Any]], bool], *, timeout: float) -> float:
        """The arrival time of the first event that matches (waits for it)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    self.changed.clear()
                    if self.failure is not None:
                        raise AssertionError("the alerts stream failed") from self.failure
                    for at, _, e in self.events:
                        if match(e):
                            return at
                    await self.changed.wait()
        except TimeoutError:
            seen = [(e["id"], e["status"]) for _, _, e in self.events]
            raise AssertionError(f"no such alert event on the stream within {timeout}s; saw {seen}") from None

    def of(self, alert_id: str) -> list[dict[str, Any]]:
        return [e for _, _, e in self.events if e["id"] == alert_id]


@dataclass
class PhoneWatch:
    """A patrol app long-polling its unit's tasks, keeping every task change it was handed (with the
    monotonic time it arrived), so a test can start it before it knows what to look for."""

    phone: httpx.AsyncClient
    unit_id: str
    cursor: int
    changed: asyncio.Event
    seen: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    failure: BaseException | None = None

    async def run(self) -> None:
        try:
            await self._poll()
        except Exception as exc:
            self.failure = exc
            self.changed.set()
            raise

    async def _poll(self) -> None:
        while True:
            r = await self.phone.get("/v1/patrol/tasks", params={"cursor": self.cursor, "wait": 10})
            assert r.status_code == 200, r.text
            body = r.json()
            now = time.monotonic()
            self.seen += [(now, t) for t in body["tasks"]]
            self.cursor = body["cursor"]
            if body["tasks"]:
                self.changed.set()


async def first_sighting(
    watches: list[PhoneWatch], match: Callable[[dict[str, Any]], bool], *, timeout: float
) -> tuple[PhoneWatch, float, dict[str, Any]]:
    """The phone that was first handed a task that matches, when, and the task."""
    changed = watches[0].changed
    try:
        async with asyncio.timeout(timeout):
            while True:
                changed.clear()
                for w in watches:
                    if w.failure is not None:
                        raise AssertionError(f"the patrol phone of {w.unit_id} failed") from w.failure
                hits = [(at, w, t) for w in watches for at, t in w.seen if match(t)]
                if hits:
                    at, w, t = min(hits, key=lambda h: h[0])
                    return w, at, t
                await changed.wait()
    except TimeoutError:
        seen = {w.unit_id: [(t["alert_id"], t["status"]) for _, t in w.seen] for w in watches}
        raise AssertionError(f"no phone was handed such a task within {timeout}s; saw {seen}") from None


@dataclass
class System:
    ingest: Any
    alerts: Any
    dispatch: Any
    alerts_url: str  # the alerts app behind a real HTTP server (SSE needs a streaming transport)
    producer: AIOKafkaProducer
    bootstrap: str
    topic_prefix: str
    secret: str
    clock: OffsetClock
    clients: list[httpx.AsyncClient] = field(default_factory=list)
    _probe: AIOKafkaConsumer | None = None  # reads topic ends for settled()

    # --- identities and clients ---------------------------------------------------------------

    def token(
        self,
        *,
        role: str = "province_commander",
        jur: str = "37",
        unit_id: str | None = None,
        sub: str | None = None,
    ) -> str:
        return mint_token(
            secret=self.secret,
            sub=sub or f"e2e-{role}-{unit_id or jur}",
            role=role,
            jur=jur,
            unit_id=unit_id,
        )

    def client(self, service: str, **identity: Any) -> httpx.AsyncClient:
        app = getattr(self, service)
        c = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=f"http://{service}",
            headers={"Authorization": f"Bearer {self.token(**identity)}"},
            timeout=45,
        )
        self.clients.append(c)
        return c

    async def phone(self, unit_id: str, admin_code: str) -> httpx.AsyncClient:
        """The patrol app of ``unit_id``, signed in as a sworn member of its crew (patrol actions are
        one person's on the unit's current roster; the demo rosters crew every active member)."""
        r = await self.client("dispatch").get(f"/v1/units/{unit_id}")
        assert r.status_code == 200, r.text
        sworn = [m["id"] for m in r.json()["members"] if m["kind"] == "sworn"]
        assert sworn, f"unit {unit_id} has no sworn member"
        return self.client(
            "dispatch", role="patrol_officer", jur=admin_code[:4], unit_id=unit_id, sub=sworn[0]
        )

    def sse(self) -> SseReader:
        return SseReader(self.alerts_url, self.token())

    async def aclose(self) -> None:
        for c in self.clients:
            await c.aclose()
        if self._probe is not None:
            await self._probe.stop()

    # --- Kafka --------------------------------------------------------------------------------

    def topic(self, name: str) -> str:
        return self.topic_prefix + name

    async def camera(
        self, *messages: dict[str, Any] | bytes, key: bytes | None = None
    ) -> list[RecordMetadata]:
        """Produce to camera.violations.v1 as a camera does (key: device id), in order, acknowledged."""
        sent = []
        for m in messages:
            value = m if isinstance(m, bytes) else orjson.dumps(m)
            k = key if key is not None or isinstance(m, bytes) else m["device_id"].encode()
            sent.append(await self.producer.send_and_wait(self.topic(CAMERA_VIOLATIONS), value, key=k))
        return sent

    async def records(
        self, topic: str, match: Callable[[Any], bool], *, want: int = 1, timeout: float = 15
    ) -> list[Any]:
        """Records of ``topic`` (read from the start by a throw-away consumer) that match."""
        # No consumer group (nothing to join or commit): every partition, from the start.
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
        )
        await consumer.start()
        name = self.topic(topic)
        consumer.assign([TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or ())])
        found: list[Any] = []
        try:

            async def poll() -> bool:
                batches = await consumer.getmany(timeout_ms=200)
                found.extend(r for rs in batches.values() for r in rs if match(r))
                return len(found) >= want

            await eventually(poll, timeout=timeout, interval=0)
        finally:
            await consumer.stop()
        return found

    async def replay(self, record: Any) -> RecordMetadata:
        """Send a consumed record's exact bytes again, as a redelivering producer would."""
        return await self.producer.send_and_wait(
            record.topic, record.value, key=record.key, headers=list(record.headers or ())
        )

    # --- readiness and quiescence -------------------------------------------------------------

    def runners(self) -> list[Any]:
        return [r for app in (self.ingest, self.alerts, self.dispatch) for r in app.state.runtime.consumers]

    async def joined(self) -> bool:
        """Every consumer group has its partitions (a first join takes seconds on the broker)."""
        return all(r.consumer.assignment() for r in self.runners())

    async def _ends(self, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Each partition's end as a fetch reports it (its high watermark). Not ListOffsets: the
        embedded broker answers that with the first offset of the last batch, and a barrier on it
        settles while the last batch is still in flight (reconcile.topics)."""
        if self._probe is None:
            self._probe = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
            await self._probe.start()
        return await high_watermarks(self._probe, parts)

    async def _positions(self) -> tuple[dict[tuple[str, TopicPartition], int], bool]:
        """End offsets per (group, partition), and whether every group has committed up to them."""
        ends: dict[tuple[str, TopicPartition], int] = {}
        caught_up = True
        for r in self.runners():
            parts = sorted(r.consumer.assignment())
            if not parts:
                return {}, False
            end = await self._ends(parts)
            for tp in parts:
                ends[(r.group_id, tp)] = end[tp]
                committed = await r.consumer.committed(tp) or 0
                caught_up = caught_up and committed >= end[tp]
        return ends, caught_up

    async def _outboxes_empty(self) -> bool:
        for app in (self.ingest, self.alerts, self.dispatch):
            rt = app.state.runtime
            async with rt.engine.connect() as conn:
                if await conn.scalar(text(f'SELECT count(*) FROM "{rt.schema}".outbox')):
                    return False
        return True

    async def settled(self, timeout: float = 20) -> None:
        """Wait until nothing is in flight anywhere: every group committed to the end of its topics,
        then every outbox empty, then the same end offsets again (nothing was relayed meanwhile)."""

        async def quiet() -> bool:
            before, caught_up = await self._positions()
            if not caught_up or not await self._outboxes_empty():
                return False
            after, caught_up = await self._positions()
            return caught_up and after == before

        await eventually(quiet, timeout=timeout, interval=0.1)


class Served:
    """An app (lifespan already running) behind uvicorn on a free port of 127.0.0.1."""

    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(
            # Held long-polls and event streams are cut after 2 s at the end, not waited for.
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=free_port(),
                lifespan="off",
                log_level="warning",
                timeout_graceful_shutdown=2,
            )
        )
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> str:
        self.task = asyncio.create_task(self.server.serve())
        async with asyncio.timeout(10):
            while not self.server.started:  # uvicorn offers no event for this
                if self.task.done():
                    self.task.result()
                await asyncio.sleep(0.02)
        return f"http://127.0.0.1:{self.server.config.port}"

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await asyncio.wait_for(self.task, 10)
