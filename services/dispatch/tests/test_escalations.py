"""Escalations: a P1 waiting too long, a missed sign-for and a missed feedback deadline each raise
an escalation (a task event, a message on dispatch.escalations.v1) that a real local HTTP receiver
gets signed, with retries and a dead letter when it keeps failing or refuses for good."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from qzx_dispatch.escalations.models import WebhookDelivery

from .conftest import OffsetClock, Org, assign, make_alert

pytestmark = [pytest.mark.db]
Api = Callable[..., httpx.AsyncClient]
SECRET = "webhook-test-secret"


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 answering each POST with the next scripted status (then 200)."""

    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.received.append((headers, body))
        status = self.statuses.pop(0) if self.statuses else 200
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()


@pytest.fixture
async def receiver(fresh: Any) -> AsyncIterator[Receiver]:
    got = Receiver()
    server = await asyncio.start_server(got.handle, "127.0.0.1", 0)
    got.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    settings = fresh.state.settings
    settings.escalation_webhook_url, settings.escalation_webhook_secret = got.url, SECRET
    yield got
    settings.escalation_webhook_url, settings.escalation_webhook_secret = None, ""
    server.close()
    await server.wait_closed()


async def deliver(app: Any) -> dict[str, int]:
    async with httpx.AsyncClient(timeout=5) as client:
        return dict(await app.state.service.webhook.deliver_due(client))


def verified(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    mac = hmac.new(SECRET.encode(), headers["x-qzx-timestamp"].encode() + b"." + body, hashlib.sha256)
    assert headers["x-qzx-signature"] == "sha256=" + mac.hexdigest()
    payload = orjson.loads(body)
    assert headers["x-qzx-event-id"] == payload["id"]
    return dict(payload)


async def test_a_p1_waiting_too_long_is_escalated_once_and_posted_signed(
    fresh: Any, api: Api, org: Org, clock: OffsetClock, receiver: Receiver
) -> None:
    await org.unit(capabilities=("weighing",))  # no breathalyser: the P1 waits
    alert = make_alert()
    assert await assign(fresh, alert, clock=clock) == "pending"
    watcher = fresh.state.service.watcher
    assert "p1_waiting:escalated" not in await watcher.tick()
    clock.advance(fresh.state.settings.escalate_p1_wait_s)
    assert (await watcher.tick())["p1_waiting:escalated"] == 1
    assert "p1_waiting:escalated" not in await watcher.tick()  # once per wait
    assert await deliver(fresh) == {"delivered": 1}
    [(headers, body)] = receiver.received
    payload = verified(headers, body)
    assert (payload["kind"], payload["alert_id"], payload["priority"]) == ("p1_waiting", alert.id, "P1")
    assert payload["task_id"] is None and "lacks breathalyser" in payload["reason"]
    assert await deliver(fresh) == {}
    # Listed for the alert's city (what a console polls), not for another city.
    listed = (await api(role="dispatcher", jur="3701").get("/v1/dispatch/escalations")).json()
    assert [e["id"] for e in listed["items"]] == [payload["id"]] and listed["next_cursor"] is None
    assert (await api(role="dispatcher", jur="3702").get("/v1/dispatch/escalations")).json()["items"] == []
    r = await api(role="auditor", jur="37").get("/v1/dispatch/escalations", params={"kind": "sign_missed"})
    assert r.status_code == 200 and r.json()["items"] == []


async def test_missed_sign_for_and_feedback_each_raise_one_and_failures_retry_then_dead_letter(
    fresh: Any, api: Api, org: Org, clock: OffsetClock, receiver: Receiver
) -> None:
    unit = await org.unit()
    signing = make_alert()
    assert await assign(fresh, signing, clock=clock) == "assigned"
    dispatcher = api(role="dispatcher", jur="3701")
    [signed] = (await dispatcher.get("/v1/tasks", params={"alert_id": signing.id})).json()["items"]
    phone = api(role="patrol_officer", jur="3701", unit_id=unit, sub=org.member(unit))
    assert (await phone.post(f"/v1/patrol/tasks/{signed['id']}/sign")).status_code == 200
    late = await org.unit(lat=36.70)
    unsigned = make_alert()
    assert await assign(fresh, unsigned, clock=clock) == "assigned"
    [task] = (await dispatcher.get("/v1/tasks", params={"alert_id": unsigned.id})).json()["items"]
    watcher = fresh.state.service.watcher
    clock.advance(600)  # past sign-by: nobody else can take it, escalated in place
    assert (await watcher.tick())["sign_by:escalated_in_place"] == 1
    events = (await dispatcher.get(f"/v1/tasks/{task['id']}/events")).json()["items"]
    assert [e["kind"] for e in events] == ["sign_missed"]
    late_phone = api(role="patrol_officer", jur="3701", unit_id=late, sub=org.member(late))
    assert (await late_phone.post(f"/v1/patrol/tasks/{task['id']}/sign")).status_code == 200
    clock.advance(7200)  # past the signed task's feedback deadline
    assert (await watcher.tick())["feedback_by:escalated"] == 1
    events = (await dispatcher.get(f"/v1/tasks/{signed['id']}/events")).json()["items"]
    assert [e["kind"] for e in events] == ["feedback_missed"]

    # The receiver fails the first delivery with 503 twice, then takes it; it refuses the other (400).
    receiver.statuses = [503, 400, 503]
    assert await deliver(fresh) == {"retried": 1, "dead": 1}
    assert await deliver(fresh) == {}  # the retry waits its back-off
    clock.advance(fresh.state.settings.escalation_webhook_backoff_s)
    assert await deliver(fresh) == {"retried": 1}
    clock.advance(2 * fresh.state.settings.escalation_webhook_backoff_s)
    assert await deliver(fresh) == {"delivered": 1}
    kinds = [verified(h, b)["kind"] for h, b in receiver.received]
    assert len(kinds) == 4 and set(kinds) == {"sign_missed", "feedback_missed"}
    async with fresh.state.runtime.sessions() as s:
        rows = (await s.scalars(select(WebhookDelivery))).all()
    states = sorted((r.state, r.attempts, r.last_error) for r in rows)
    assert states == [("dead", 1, "HTTP 400"), ("delivered", 3, None)]


async def test_an_unreachable_webhook_is_dead_after_the_last_attempt(
    fresh: Any, api: Api, org: Org, clock: OffsetClock, receiver: Receiver
) -> None:
    settings = fresh.state.settings
    await org.unit(capabilities=("weighing",))
    assert await assign(fresh, make_alert(), clock=clock) == "pending"
    clock.advance(settings.escalate_p1_wait_s)
    assert (await fresh.state.service.watcher.tick())["p1_waiting:escalated"] == 1
    settings.escalation_webhook_url = "http://127.0.0.1:9/nothing-listens"
    attempts, before = 3, settings.escalation_webhook_attempts
    settings.escalation_webhook_attempts = attempts
    try:
        outcomes = []
        for _ in range(attempts):
            outcomes.append(await deliver(fresh))
            clock.advance(600)
    finally:
        settings.escalation_webhook_attempts = before
    assert outcomes == [{"retried": 1}, {"retried": 1}, {"dead": 1}]
    async with fresh.state.runtime.sessions() as s:
        [row] = (await s.scalars(select(WebhookDelivery))).all()
    assert row.state == "dead" and row.attempts == attempts and "ConnectError" in (row.last_error or "")
