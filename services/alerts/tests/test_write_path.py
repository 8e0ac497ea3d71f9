"""The scoring write path: what it publishes is the stored row, redeliveries mixed into a batch, and
the list filters that have their own indexes (plate, kind, violation)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from qzx_alerts.alerts import repository
from qzx_alerts.alerts.repository import ANY_END, ANY_START
from qzx_alerts.alerts.schemas import alert_payload
from qzx_alerts.scoring.domain import violation_key
from qzx_common.contracts.geo import city_code
from qzx_common.db import driver_connection

pytestmark = [pytest.mark.db]

WEIHAI = {"lat": 37.51, "lon": 122.12, "admin_code": "371002", "road": "G1", "km": 30.0}
JINAN = {"lat": 36.651, "lon": 117.120, "admin_code": "370102", "road": "G2", "km": 412.3}


async def published(alerts: Any, alert_id: str) -> list[dict[str, Any]]:
    """Every state of the alert on the change log (the outbox carries the same bytes)."""
    async with alerts.state.runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT payload FROM alerts.alert_changes WHERE alert_id = :id ORDER BY id"),
                {"id": alert_id},
            )
        ).all()
    return [orjson.loads(r.payload) for r in rows]


async def stored(alerts: Any, alert_id: str) -> dict[str, Any]:
    """The row as the API and lifecycle publish it (read back and encoded the same way)."""
    async with alerts.state.runtime.engine.connect() as conn:
        row = await repository.get(await driver_connection(conn), alert_id)
    return orjson.loads(orjson.dumps(alert_payload(row)))


async def test_published_alert_is_exactly_the_stored_row(alerts: Any, score: Any, make: Any) -> None:
    plate, road = make.plate("W"), make.road()
    at = datetime.now(UTC) - timedelta(minutes=10)
    loc = WEIHAI | {"road": road}
    first = make.accepted(
        plate=plate,
        location=loc,
        captured_at=at,
        violation="speeding",
        measurements={"speed_kmh": 150, "speed_limit_kmh": 100},
    )
    other = make.accepted(
        plate=make.plate("W"),
        location=loc,
        captured_at=at + timedelta(seconds=30),
        violation="street_racing",
        measurements={},
    )
    await score([first, other])
    # A second batch updates both the violation alert (dedup) and the group alert.
    later = make.accepted(
        plate=plate,
        location=loc,
        captured_at=at + timedelta(seconds=60),
        violation="speeding",
        measurements={"speed_kmh": 190, "speed_limit_kmh": 100},
    )
    await score([later])

    async with alerts.state.runtime.engine.connect() as conn:
        ids = [
            r.id
            for r in await conn.execute(
                text("SELECT id FROM alerts.alerts WHERE plate = :p OR road = :r"), {"p": plate, "r": road}
            )
        ]
    assert len(ids) >= 3  # the plate's violation alert, the other's, the racing group
    states = [await stored(alerts, alert_id) for alert_id in ids]
    for alert_id, state in zip(ids, states, strict=True):
        history = await published(alerts, alert_id)
        assert history and history[-1] == state
    (group,) = [s for s in states if s["kind"] == "racing_group"]
    assert group["count"] == 3 and group["version"] == 2 and len(group["plates"]) == 2


async def test_a_batch_mixing_new_and_redelivered_events_scores_only_the_new(
    alerts: Any, score: Any, make: Any
) -> None:
    old = make.accepted(plate=make.plate("W"), location=WEIHAI)
    assert (await score([old])).new == 1
    new = make.accepted(plate=make.plate("W"), location=WEIHAI)
    result = await score([old, new, new])
    assert (result.new, result.duplicates, result.alerts_written) == (1, 2, 1)
    again = await score([new, old])
    assert (again.new, again.duplicates, again.alerts_written) == (0, 2, 0)


async def test_plate_kind_and_violation_filters(
    alerts: Any, score: Any, make: Any, client: httpx.AsyncClient
) -> None:
    plate = make.plate("W")
    at = datetime.now(UTC) - timedelta(minutes=30)
    await score(
        [
            make.accepted(
                plate=plate,
                device_id="371002-CK-0001",
                location=WEIHAI,
                captured_at=at,
                violation="red_light",
                measurements={},
            ),
            make.accepted(
                plate=plate,
                device_id="370102-CK-0001",
                location=JINAN,
                captured_at=at + timedelta(minutes=10),
                violation="wrong_way",
                measurements={},
            ),
            make.accepted(
                plate=make.plate("W"),
                location=WEIHAI,
                captured_at=at,
                violation="ebike_wrong_way",
                vehicle_class="ebike",
                measurements={"riders": 1},
            ),
        ],
    )
    mine = (await client.get("/v1/alerts", params={"plate": plate})).json()["items"]
    # Seen in Weihai and Jinan: a plate-fraud alert in each city (a city sees its own sightings only).
    assert sorted(a["kind"] for a in mine) == ["plate_fraud", "plate_fraud", "violation", "violation"]
    assert all(a["plate"] == plate for a in mine)
    keys = [(a["last_seen"], a["id"]) for a in mine]
    assert keys == sorted(keys, reverse=True)
    page = (await client.get("/v1/alerts", params={"plate": plate, "limit": 1})).json()
    rest = (await client.get("/v1/alerts", params={"plate": plate, "cursor": page["next_cursor"]})).json()
    assert [a["id"] for a in page["items"] + rest["items"]] == [a["id"] for a in mine]

    fraud = (await client.get("/v1/alerts", params={"plate": plate, "kind": "plate_fraud"})).json()["items"]
    assert [a["violations"] for a in fraud] == [["fake_plate"], ["fake_plate"]]
    ebikes = (
        await client.get("/v1/alerts", params={"admin_code": "3710", "violation": "ebike_wrong_way"})
    ).json()["items"]
    assert ebikes and all(a["violations"] == ["ebike_wrong_way"] for a in ebikes)
    assert all(a["admin_code"].startswith("3710") for a in ebikes)
    assert (await client.get("/v1/alerts", params={"kind": "no_such_kind"})).status_code == 422


async def test_scoring_loads_only_the_open_alert_each_finding_can_join(
    alerts: Any, score: Any, make: Any
) -> None:
    """Per window, the n open alerts of the key active last among those whose span meets it; the
    others (older, outside every window, closed) stay unread however many the key has."""
    plate, t0 = make.plate("W"), datetime.now(UTC) - timedelta(hours=2)
    events = [
        make.accepted(
            plate=plate, location=WEIHAI, captured_at=t0 + timedelta(minutes=m), violation="red_light"
        )
        for m in (0, 20, 40, 60)  # 20 minutes apart: four alerts (10-minute dedup window)
    ]
    for e in events:
        await score([e])
    key = violation_key(city_code(WEIHAI["admin_code"]), plate, "red_light")

    async def loaded(
        *windows: tuple[int, int], n: int = 1, within: tuple[int, int] | None = None
    ) -> list[datetime]:
        lo, hi = (ANY_START, ANY_END) if within is None else (t0 + timedelta(minutes=m) for m in within)
        async with alerts.state.runtime.engine.connect() as conn:
            rows = await repository.open_alerts(
                await driver_connection(conn),
                [(key, t0 + timedelta(minutes=a), t0 + timedelta(minutes=b), lo, hi, n) for a, b in windows],
            )
        return sorted(r["last_seen"] for r in rows)

    at = [t0 + timedelta(minutes=m) for m in (0, 20, 40, 60)]
    assert await loaded((-5, 25)) == [at[1]]  # meets the first two: the later one
    assert await loaded((5, 15)) == []  # meets none
    assert await loaded((-5, 25), (15, 45), (19, 21)) == [at[1], at[2]]  # each alert once
    assert await loaded((-5, 45), n=2) == [at[1], at[2]]  # the two active last
    assert await loaded((-5, 65), n=4, within=(15, 45)) == [at[1], at[2]]  # spans within 15..45 only
    assert await loaded((-5, 65), n=4, within=(25, 45)) == [at[2]]
    async with alerts.state.runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE alerts.alerts SET status = 'dismissed' WHERE dedup_key = :k AND last_seen = :t"),
            {"k": key, "t": at[3]},
        )
    assert await loaded((35, 65)) == [at[2]]  # a closed alert is never joined


async def test_racing_reported_out_of_order_joins_the_group_alert_covering_its_time(
    alerts: Any, score: Any, make: Any
) -> None:
    """Half an hour of racing on one segment, delivered in shuffled batches (cameras that forward
    late): each finding joins a group alert it fits in (at most ``max_span_s``, 600 s) rather than
    opening another beside it, so the segment gets a few alerts, not one per late batch."""
    road, t0 = make.road(), datetime.now(UTC) - timedelta(hours=2)
    plates = [make.plate("R") for _ in range(3)]
    events = [
        make.accepted(
            plate=plates[m % 3],
            location=WEIHAI | {"road": road},
            captured_at=t0 + timedelta(minutes=m),
            violation="street_racing",
            measurements={},
        )
        for m in range(30)
    ]
    random.Random(4).shuffle(events)
    for start in range(0, len(events), 3):
        await score(events[start : start + 3])

    async with alerts.state.runtime.engine.connect() as conn:
        groups = (
            await conn.execute(
                text(
                    "SELECT event_ids, extract(epoch FROM last_seen - first_seen) AS span FROM alerts.alerts "
                    "WHERE kind = 'racing_group' AND road = :r"
                ),
                {"r": road},
            )
        ).all()
    assert {e for g in groups for e in g.event_ids} == {orjson.loads(e)["event_id"] for e in events}
    assert max(g.span for g in groups) <= 600
    assert len(groups) <= 5, [g.span for g in groups]  # 3 at the least


async def test_an_alert_carries_its_latest_events_pictures(alerts: Any, score: Any, make: Any) -> None:
    """The pictures of the latest event that had any, tagged with its id, stored and published alike
    (an officer's phone shows them whatever district the camera is in)."""
    plate, at = make.plate("W"), datetime.now(UTC) - timedelta(minutes=10)

    def event(seconds: int, pictures: int) -> bytes:
        evidence = [
            {"uri": f"https://cam.example/{plate}/{seconds}-{i}.jpg", "sha256": "a" * 64}
            for i in range(pictures)
        ]
        return make.accepted(
            plate=plate, location=WEIHAI, captured_at=at + timedelta(seconds=seconds), evidence=evidence
        )

    def pictures_of(value: bytes) -> list[dict[str, Any]]:
        e = orjson.loads(value)
        return [{"event_id": e["event_id"], **x} for x in e["evidence"]]

    first, latest = event(0, 1), event(60, 2)
    await score([first])
    await score([latest, event(-30, 1)])  # an older event that arrives late is not the latest
    await score([event(90, 0)])  # nor does one without pictures take them away
    async with alerts.state.runtime.engine.connect() as conn:
        (alert_id,) = (
            await conn.execute(text("SELECT id FROM alerts.alerts WHERE plate = :p"), {"p": plate})
        ).scalars()
    state = await stored(alerts, alert_id)
    assert state["count"] == 4
    assert state["evidence"] == pictures_of(latest)
    history = await published(alerts, alert_id)
    assert [h["evidence"] for h in history] == [pictures_of(first), *[pictures_of(latest)] * 2]
