"""The pending queue: alerts waiting for a unit, with why and for how long, scoped and paged;
retried as soon as a unit of their city frees up (a task closed, a unit back available)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from .conftest import OffsetClock, Org, assign, make_alert

pytestmark = [pytest.mark.db]
Api = Callable[..., httpx.AsyncClient]
PENDING = "/v1/dispatch/pending"


@pytest.fixture
async def slow_retry(fresh: Any) -> AsyncIterator[Any]:
    """Periodic retries ten minutes apart: what moves the queue sooner is a unit freeing up."""
    settings = fresh.state.settings
    settings.pending_retry_s, before = 600.0, settings.pending_retry_s
    yield fresh
    settings.pending_retry_s = before


async def test_waiting_alerts_are_listed_most_urgent_first_with_reason_and_time_waited(
    slow_retry: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    await org.unit(capabilities=("weighing",))  # on duty, but no breathalyser
    alerts = [make_alert(priority=p, score=s) for p, s in (("P2", 75.0), ("P1", 92.0), ("P1", 95.0))]
    for alert in alerts:
        assert await assign(slow_retry, alert, clock=clock) == "pending"
    dispatcher = api(role="dispatcher", jur="3701")
    seen, cursor = [], None
    while True:
        r = await dispatcher.get(PENDING, params={"limit": 2} | ({"cursor": cursor} if cursor else {}))
        assert r.status_code == 200, r.text
        seen += r.json()["items"]
        if not (cursor := r.json()["next_cursor"]):
            break
    assert [i["alert_id"] for i in seen] == [alerts[1].id, alerts[2].id, alerts[0].id]
    first = seen[0]
    assert first["reason"] == "no suitable unit: 1 lacks breathalyser" and first["attempts"] == 1
    assert first["waited_s"] >= 5 and first["requeued"] is False and first["plate"] == "鲁A12345"
    only_p2 = (await dispatcher.get(PENDING, params={"priority": "P2"})).json()["items"]
    assert [i["alert_id"] for i in only_p2] == [alerts[0].id]
    assert (await api(role="dispatcher", jur="3702").get(PENDING)).json()["items"] == []
    unit = await org.unit(lat=36.9, capabilities=("ebike",))
    r = await api(role="patrol_officer", jur="3701", unit_id=unit, sub=org.member(unit)).get(PENDING)
    assert (r.status_code, r.json()["error"]) == (403, "role_forbidden")
    r = await dispatcher.get(PENDING, params={"cursor": "bm9wZQ"})
    assert (r.status_code, r.json()["error"]) == (422, "invalid_cursor")


async def test_a_closed_task_or_a_unit_back_available_moves_the_queue_at_once(
    slow_retry: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    unit = await org.unit()
    assert await assign(slow_retry, make_alert(), clock=clock) == "assigned"
    waiting = make_alert()
    assert await assign(slow_retry, waiting, clock=clock) == "pending"  # a P1 never displaces a P1
    watcher = slow_retry.state.service.watcher
    assert "pending:pending" not in await watcher.tick()  # not due for ten minutes
    phone = api(role="patrol_officer", jur="3701", unit_id=unit, sub=org.member(unit))
    task = (await phone.get("/v1/patrol/tasks")).json()["tasks"][0]
    for step, body in (("sign", None), ("feedback", {"outcome": "ticketed"})):
        assert (await phone.post(f"/v1/patrol/tasks/{task['id']}/{step}", json=body)).status_code == 200
    assert (await watcher.tick())["pending:assigned"] == 1
    dispatcher = api(role="dispatcher", jur="3701")
    assert (await dispatcher.get(PENDING)).json()["items"] == []

    # A unit marked unavailable and back: the alert that waited meanwhile is tried at once.
    commander = api(role="city_commander", jur="3701")
    second = await org.unit(lat=36.70)
    assert (await commander.patch(f"/v1/units/{second}", json={"status": "unavailable"})).status_code == 200
    later = make_alert()
    assert await assign(slow_retry, later, clock=clock) == "pending"
    assert "pending:assigned" not in await watcher.tick()
    assert (await commander.patch(f"/v1/units/{second}", json={"status": "available"})).status_code == 200
    assert (await watcher.tick())["pending:assigned"] == 1


async def test_a_unit_freeing_up_skips_the_pending_rows_another_transaction_holds(
    slow_retry: Any, clock: OffsetClock
) -> None:
    """Two wake-ups of one city at once (or one beside the intake) never wait on each other's
    rows, so they cannot deadlock: the rows held elsewhere are skipped, the rest made due."""
    from sqlalchemy import text

    from qzx_common.db import transaction
    from qzx_dispatch.tasks import pending

    held, free = make_alert(), make_alert()
    for alert in (held, free):
        assert await assign(slow_retry, alert, clock=clock) == "pending"  # no unit on duty
    sessions = slow_retry.state.runtime.sessions
    async with transaction(sessions) as holder:
        await holder.execute(
            text("SELECT 1 FROM dispatch.alerts WHERE alert_id = :id FOR UPDATE"), {"id": held.id}
        )
        async with transaction(sessions) as waker:
            await waker.execute(text("SET LOCAL lock_timeout = '2s'"))
            assert await pending.retry_now(waker, city_code="370100", now=clock.now()) == 1
    async with transaction(sessions) as s:
        due = await s.execute(
            text("SELECT alert_id, next_try_at <= :now FROM dispatch.alerts ORDER BY alert_id"),
            {"now": clock.now()},
        )
        assert dict(due.all()) == {held.id: False, free.id: True}
