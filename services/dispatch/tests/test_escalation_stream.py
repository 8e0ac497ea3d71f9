"""The escalation stream (GET /v1/dispatch/escalations/stream) over a real socket, real PostgreSQL
and the real broker: an escalation the watcher raises reaches the stream of its city within a
second of its commit, never another city's; `since` and Last-Event-ID replay what a console
missed; a bad Last-Event-ID is refused."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from qzx_dev.testing import serve

from .conftest import OffsetClock, Org, assign, make_alert, token

pytestmark = [pytest.mark.db]
Api = Callable[..., httpx.AsyncClient]


class Listener:
    """Reads one stream in the background: every `escalation` event's id and data."""

    def __init__(
        self, url: str, bearer: str, *, params: dict[str, str] | None = None, last: str | None = None
    ):
        headers = {"Authorization": f"Bearer {bearer}", "Accept": "text/event-stream"}
        if last is not None:
            headers["Last-Event-ID"] = last
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.opened = asyncio.Event()
        self.status = 0
        self._arrived = asyncio.Event()
        self._task = asyncio.create_task(self._read(url, headers, params or {}))

    async def _read(self, url: str, headers: dict[str, str], params: dict[str, str]) -> None:
        async with (
            httpx.AsyncClient(timeout=None) as client,
            client.stream("GET", url, headers=headers, params=params) as r,
        ):
            self.status = r.status_code
            self.opened.set()
            ident, kind = "", ""
            async for line in r.aiter_lines():
                if line.startswith("id: "):
                    ident = line[4:]
                elif line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "escalation":
                    self.events.append((ident, json.loads(line[6:])))
                    self._arrived.set()

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                await self._arrived.wait()
                self._arrived.clear()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def test_an_escalation_reaches_its_citys_stream_live_and_is_replayed_on_resume(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    settings = fresh.state.settings
    async with serve(fresh, lifespan="off") as base:
        url = f"{base}/v1/dispatch/escalations/stream"
        jinan = Listener(url, token(settings, role="dispatcher", jur="3701"))
        qingdao = Listener(url, token(settings, role="dispatcher", jur="3702"))
        try:
            await asyncio.wait_for(asyncio.gather(jinan.opened.wait(), qingdao.opened.wait()), 10)
            assert (jinan.status, qingdao.status) == (200, 200)
            await asyncio.sleep(0.3)  # both subscribed before the escalation commits

            await org.unit(capabilities=("weighing",))  # no breathalyser: the P1 waits
            alert = make_alert()
            assert await assign(fresh, alert, clock=clock) == "pending"
            clock.advance(settings.escalate_p1_wait_s)
            assert (await fresh.state.service.watcher.tick())["p1_waiting:escalated"] == 1
            raised_at = asyncio.get_running_loop().time()  # committed
            await jinan.wait_for(1, timeout=3)
            assert (
                asyncio.get_running_loop().time() - raised_at < 1.0
            )  # live, not polled (a keep-alive comes every 15 s)
            [(position, event)] = jinan.events
            assert (event["kind"], event["alert_id"], event["priority"], event["task_id"]) == (
                "p1_waiting",
                alert.id,
                "P1",
                None,
            )
            assert event["admin_code"].startswith("3701") and "lacks breathalyser" in event["reason"]
            listed = (await api(role="dispatcher", jur="3701").get("/v1/dispatch/escalations")).json()
            assert [e["id"] for e in listed["items"]] == [event["id"]]  # the same escalation as the list
            await asyncio.sleep(0.5)
            assert qingdao.events == []  # another city's stream never carries it
        finally:
            await jinan.close()
            await qingdao.close()

        # A console that missed it: from `since`, or resumed after an earlier position.
        bearer = token(settings, role="city_commander", jur="3701")
        since = Listener(url, bearer, params={"since": (clock.now() - timedelta(hours=1)).isoformat()})
        resumed = Listener(url, bearer, last=position)
        try:
            await since.wait_for(1)
            await resumed.wait_for(1)
            assert [e["id"] for _, e in since.events] == [event["id"]]
            assert [e["id"] for _, e in resumed.events] == [event["id"]]  # a repeat its id lets drop
        finally:
            await since.close()
            await resumed.close()

        async with httpx.AsyncClient() as client:
            headers = {"Authorization": f"Bearer {bearer}", "Last-Event-ID": "not-a-position"}
            r = await client.get(url, headers=headers)
            assert (r.status_code, r.json()["error"]) == (422, "invalid_last_event_id")
            patrol = token(settings, role="auditor", jur="3701")
            r = await client.get(f"{url}?since=x", headers={"Authorization": f"Bearer {patrol}"})
            assert r.status_code == 422
