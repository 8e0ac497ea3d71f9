"""Done when: a P1 alert produced to alerts.v1 gets a task for a suitable on-duty unit within a
second; the unit's long-poll sees it; sign → on_scene → feedback; every change is on
dispatch.tasks.v1 with rising versions; an unsigned task is reassigned and escalated at its deadline."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import select

from qzx_common.contracts.alerts import Alert
from qzx_common.contracts.tasks import Task
from qzx_common.topics import ALERTS, DISPATCH_TASKS
from qzx_dev.testing import Stack, eventually
from qzx_dispatch.tasks.models import AlertRecord, TaskRow

from .conftest import OffsetClock, Org, make_alert

pytestmark = [pytest.mark.db, pytest.mark.kafka]
Api = Callable[..., httpx.AsyncClient]


async def produce(producer: Any, stack: Stack, alert: Alert) -> None:
    await producer.send_and_wait(
        stack.topic_prefix + ALERTS, alert.model_dump_json().encode(), key=alert.id.encode()
    )


async def task_for(app: Any, alert_id: str) -> TaskRow | None:
    async with app.state.runtime.sessions() as s:
        q = select(TaskRow).where(TaskRow.alert_id == alert_id).order_by(TaskRow.created_at.desc())
        return (await s.scalars(q)).first()


async def alert_seen(app: Any, alert_id: str) -> bool:
    async with app.state.runtime.sessions() as s:
        return (await s.get(AlertRecord, alert_id)) is not None


async def published(stack: Stack, *, want: Callable[[list[Task]], bool], timeout: float = 15) -> list[Task]:
    consumer = AIOKafkaConsumer(
        stack.topic_prefix + DISPATCH_TASKS,
        bootstrap_servers=stack.bootstrap,
        group_id=f"probe-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    seen: list[Task] = []
    try:

        async def poll() -> bool:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for r in records:
                    assert r.key == orjson.loads(r.value)["id"].encode()
                    seen.append(Task.model_validate_json(r.value))
            return want(seen)

        await eventually(poll, timeout=timeout, interval=0)
    finally:
        await consumer.stop()
    return seen


async def test_the_whole_loop_over_the_broker(
    fresh: Any, api: Api, org: Org, clock: OffsetClock, producer: Any, stack: Stack
) -> None:
    unit = await org.unit(lat=36.66, lon=117.13)
    backup = await org.unit(lat=36.72, lon=117.20)
    await org.unit(lat=36.651, lon=117.12, capabilities=("weighing",))  # nearer, but no breathalyser
    # Warm-up: the consumer group may still be joining. Qingdao has no units: it just waits.
    warm = make_alert(location={"lat": 36.07, "lon": 120.38, "admin_code": "370202"})
    await produce(producer, stack, warm)
    await eventually(lambda: alert_seen(fresh, warm.id), timeout=30)

    phone = api(role="patrol_officer", jur="3701", unit_id=unit, sub=org.member(unit))
    cursor = (await phone.get("/v1/patrol/tasks", params={"cursor": 0})).json()["cursor"]
    alert = make_alert(priority="P1")
    started = time.monotonic()
    await produce(producer, stack, alert)
    row = await eventually(lambda: task_for(fresh, alert.id), timeout=5, interval=0.01)
    assert time.monotonic() - started < 1.0
    assert row.unit_id == unit and row.priority == "P1"

    body = (await phone.get("/v1/patrol/tasks", params={"cursor": cursor, "wait": 10})).json()
    [task] = [t for t in body["tasks"] if t["alert_id"] == alert.id]
    url = f"/v1/patrol/tasks/{task['id']}"
    assert (await phone.post(f"{url}/sign", headers={"Idempotency-Key": "k-sign"})).status_code == 200
    assert (await phone.post(f"{url}/status", json={"status": "on_scene"})).status_code == 200
    r = await phone.post(f"{url}/feedback", json={"outcome": "ticketed", "note": "BAC 95"})
    assert r.status_code == 200 and r.json()["status"] == "resolved"

    def loop_done(seen: list[Task]) -> bool:
        return [t.status.value for t in seen if t.id == task["id"]][-1:] == ["resolved"]

    events = [t for t in await published(stack, want=loop_done) if t.id == task["id"]]
    assert [(t.version, t.status.value) for t in events] == [
        (1, "assigned"),
        (2, "signed"),
        (3, "on_scene"),
        (4, "resolved"),
    ]
    assert events[-1].outcome is not None and events[-1].outcome.value == "ticketed"

    # An unsigned task at its deadline: reassigned to the next best unit, escalated, published.
    late = make_alert(priority="P1", sign_deadline_s=60)
    await produce(producer, stack, late)
    first = await eventually(lambda: task_for(fresh, late.id), timeout=5, interval=0.01)
    assert first.unit_id == unit
    clock.advance(61)
    assert (await fresh.state.service.watcher.tick())["sign_by:reassigned"] == 1

    def escalated(seen: list[Task]) -> bool:
        return any(t.alert_id == late.id and t.unit_id == backup and t.escalated for t in seen)

    mine = [t for t in await published(stack, want=escalated) if t.alert_id == late.id]
    # Different tasks, different keys, different partitions: order holds per task only.
    assert sorted((t.unit_id == backup, t.version, t.status.value, t.escalated) for t in mine) == [
        (False, 1, "assigned", False),
        (False, 2, "reassigned", True),
        (True, 1, "assigned", True),
    ]
