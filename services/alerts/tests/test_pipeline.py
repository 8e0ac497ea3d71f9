"""violations.accepted.v1 and dispatch.tasks.v1 → alerts, over the real broker and database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from qzx_alerts.scoring.service import apply_violation_batch
from qzx_dev.testing import eventually

pytestmark = [pytest.mark.db, pytest.mark.kafka]


async def alerts_for(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    return (await client.get("/v1/alerts", params=params | {"limit": 500})).json()["items"]


async def counts(alerts_app: Any) -> tuple[int, int]:
    """How many alert states the change log (SSE, alerts.v1) holds, and its last id."""
    async with alerts_app.state.runtime.engine.connect() as conn:
        from sqlalchemy import text

        row = (
            await conn.execute(text("SELECT count(*), coalesce(max(id), 0) FROM alerts.alert_changes"))
        ).one()
    return row[0], row[1]


async def test_dedup_window_updates_the_open_alert_and_redelivery_changes_nothing(
    warm: None, alerts: Any, make: Any, send: Any, client: httpx.AsyncClient
) -> None:
    plate = make.plate()
    # Yesterday at noon in Shandong (UTC+8): no night factor on either event, so the second one's
    # repeat-offender points decide which event explains the alert.
    t0 = (datetime.now(UTC) - timedelta(days=1)).replace(hour=4, minute=0, second=0, microsecond=0)
    first = make.accepted(plate=plate, violation="wrong_way", captured_at=t0, measurements={})
    second = make.accepted(
        plate=plate, violation="wrong_way", captured_at=t0 + timedelta(minutes=4), measurements={}
    )
    later = make.accepted(
        plate=plate, violation="wrong_way", captured_at=t0 + timedelta(minutes=19), measurements={}
    )
    await send(first, first, second, first)  # redelivered on the wire

    async def merged() -> list[dict[str, Any]]:
        items = await alerts_for(client, plate=plate)
        return items if items and items[0]["count"] == 2 else []

    (alert,) = await eventually(merged)
    assert len(alert["event_ids"]) == 2 and alert["first_seen"] < alert["last_seen"]
    assert {f["name"] for f in alert["factors"]} >= {"severity", "repeat_offender"}

    # A redelivered batch applied again (a crash before the offset commit) changes nothing at all.
    before = await counts(alerts)
    scoring = alerts.state.service.scoring
    async with alerts.state.runtime.engine.begin() as conn:
        result = await apply_violation_batch(
            conn, values=[first, second], rules=scoring.rules, hazards=scoring.hazards
        )
    assert (result.new, result.duplicates, result.alerts_written) == (0, 2, 0)
    assert await counts(alerts) == before
    (again,) = await alerts_for(client, plate=plate)
    assert again["version"] == alert["version"] and again["count"] == 2

    # Outside the window (15 min after the last): a new alert.
    await send(later)

    async def two() -> list[dict[str, Any]]:
        items = await alerts_for(client, plate=plate)
        return items if len(items) == 2 else []

    newest, oldest = await eventually(two)
    assert oldest["id"] == alert["id"] and newest["count"] == 1
    repeat = next(f for f in newest["factors"] if f["name"] == "repeat_offender")
    assert repeat["value"] == 2


async def test_racing_group_names_all_plates(
    warm: None, make: Any, send: Any, client: httpx.AsyncClient
) -> None:
    road = make.road()
    at = datetime.now(UTC) - timedelta(minutes=3)
    plates = [make.plate(), make.plate(), make.plate()]
    loc = {"lat": 36.66, "lon": 117.13, "admin_code": "370102", "road": road, "km": 50.5}
    await send(
        make.accepted(
            plate=plates[0], violation="street_racing", location=loc, captured_at=at, measurements={}
        ),
        make.accepted(
            plate=plates[1],
            violation="speeding",
            location=loc | {"km": 51.2},
            captured_at=at + timedelta(seconds=20),
            measurements={"speed_kmh": 160, "speed_limit_kmh": 80},
        ),
        make.accepted(
            plate=plates[2],
            violation="noise_modified",
            location=loc,
            captured_at=at + timedelta(seconds=50),
            measurements={"noise_db": 110},
        ),
        # Same road, another segment: not part of the group.
        make.accepted(
            plate=make.plate(),
            violation="street_racing",
            location=loc | {"km": 80.0},
            captured_at=at,
            measurements={},
        ),
    )

    async def group() -> list[dict[str, Any]]:
        items = [a for a in await alerts_for(client, kind="racing_group") if a["location"]["road"] == road]
        return items if items and len(items[0]["plates"]) == 3 else []

    (alert,) = await eventually(group)
    assert alert["plates"] == sorted(plates) and alert["count"] == 3 and alert["plate"] is None
    assert alert["violations"] == ["noise_modified", "speeding", "street_racing"]
    assert alert["priority"] in ("P1", "P2") and "3 plates" in alert["factors"][0]["why"]


def task(alert_id: str, tid: str, status: str, version: int, minute: int, **kw: Any) -> dict[str, Any]:
    at = datetime(2026, 1, 5, 8, 0, tzinfo=UTC) + timedelta(minutes=minute)
    return {
        "id": tid,
        "alert_id": alert_id,
        "unit_id": "U-7",
        "status": status,
        "priority": "P2",
        "target": {"lat": 36.65, "lon": 117.12, "admin_code": "370102"},
        "summary": "test",
        "version": version,
        "updated_at": at.isoformat(),
        **kw,
    }


async def task_applied(alerts_app: Any, task_id: str, since: datetime) -> None:
    """Wait until the consumer has processed a message for ``task_id`` sent after ``since``
    (even one that changed nothing: every upsert stamps updated_at)."""
    from sqlalchemy import text

    async def check() -> bool:
        async with alerts_app.state.runtime.engine.connect() as conn:
            at = (
                await conn.execute(
                    text("SELECT updated_at FROM alerts.alert_tasks WHERE task_id = :t"), {"t": task_id}
                )
            ).scalar_one_or_none()
        return at is not None and at > since

    await eventually(check)


async def test_every_lifecycle_transition_including_out_of_order_and_repeats(
    warm: None, alerts: Any, make: Any, send: Any, send_task: Any, client: httpx.AsyncClient
) -> None:
    ids = []
    for _ in range(3):
        plate = make.plate()
        await send(make.accepted(plate=plate))
        (a,) = await eventually(lambda p=plate: alerts_for(client, plate=p))
        ids.append(a["id"])
    a1, a2, a3 = ids

    async def status_of(alert_id: str, want: str) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            body = (await client.get(f"/v1/alerts/{alert_id}")).json()
            return body if body["status"] == want else None

        return await eventually(check)

    t1 = f"T-{uuid.uuid4().hex[:8]}"
    await send_task(task(a1, t1, "assigned", 1, 0))
    assert (await status_of(a1, "dispatched"))["task_id"] == t1
    await send_task(task(a1, t1, "signed", 2, 1))
    await status_of(a1, "signed")
    await send_task(task(a1, t1, "en_route", 3, 2), task(a1, t1, "signed", 2, 1))  # a repeat
    await send_task(task(a1, t1, "resolved", 5, 9, outcome="ticketed"))
    done = await status_of(a1, "resolved")
    assert done["outcome"] == "ticketed"
    since = datetime.now(UTC)
    await send_task(task(a1, t1, "on_scene", 4, 6))  # late and older: ignored
    await send_task(task(a1, t1, "resolved", 5, 9, outcome="ticketed"))  # repeated: no new version
    await task_applied(alerts, t1, since)
    marker = f"T-{uuid.uuid4().hex[:8]}"
    await send_task(task(a3, marker, "assigned", 1, 0))
    await status_of(a3, "dispatched")
    again = (await client.get(f"/v1/alerts/{a1}")).json()
    assert again["status"] == "resolved" and again["version"] == done["version"]

    # Out of order: the resolution arrives before the assignment and the sign-for.
    t2 = f"T-{uuid.uuid4().hex[:8]}"
    await send_task(task(a2, t2, "resolved", 4, 20, outcome="warned"))
    await status_of(a2, "resolved")
    await send_task(task(a2, t2, "signed", 2, 12), task(a2, t2, "assigned", 1, 10))
    await send_task(task(a3, marker, "signed", 2, 1))
    await status_of(a3, "signed")
    final = (await client.get(f"/v1/alerts/{a2}")).json()
    assert final["status"] == "resolved" and final["outcome"] == "warned"

    # Escalation (missed deadline) and then a dismissal, which late task events do not undo.
    await send_task(task(a3, marker, "signed", 3, 5, escalated=True))
    await status_of(a3, "escalated")
    r = await client.post(f"/v1/alerts/{a3}/dismiss", json={"reason": "duplicate of another case"})
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    since = datetime.now(UTC)
    await send_task(task(a3, marker, "resolved", 9, 30, outcome="intercepted"))
    await task_applied(alerts, marker, since)
    body = (await client.get(f"/v1/alerts/{a3}")).json()
    assert body["status"] == "dismissed" and body["dismiss_reason"] == "duplicate of another case"
    r = await client.post(f"/v1/alerts/{a3}/dismiss", json={"reason": "again please"})
    assert r.status_code == 409 and r.json()["error"] == "alert_closed"
