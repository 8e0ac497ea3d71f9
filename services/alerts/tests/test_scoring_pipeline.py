"""Two batches in flight (scoring.pipeline) score exactly as one batch after the other: the next
batch's lookups add the uncommitted batch's sightings and passages from memory."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from asyncpg import InterfaceError
from sqlalchemy import text

from qzx_alerts.scoring import pipeline as pipeline_module
from qzx_alerts.scoring import service as scoring_service
from qzx_alerts.scoring.pipeline import LOCK_TIMEOUT_S, ScoringPipeline, Transaction

pytestmark = [pytest.mark.db]

# Devices far enough apart that a plate seen at two of them within minutes is a clone.
PLACES = [
    (36.651, 117.120, "370102"),  # Jinan
    (36.067, 120.383, "370202"),  # Qingdao
    (36.813, 118.055, "370303"),  # Zibo
]
RACING = ("street_racing", "speeding", "noise_modified")


def an_hour_ago() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def events(tag: str, n: int, seed: int, *, plates: int = 30, t0: datetime | None = None) -> list[bytes]:
    """``n`` events of few plates on few roads within 40 minutes from ``t0`` (clones, racing groups
    and repeat offenders across batches); ``tag`` names everything, so that two sets never meet
    (give both sets one ``t0`` to compare them)."""
    rng = random.Random(seed)
    t0 = t0 or an_hour_ago()
    out = []
    for i in range(n):
        d = rng.randrange(6)
        lat, lon, admin = PLACES[d % 3]
        violation = rng.choice((*RACING, "red_light", "drunk_driving"))
        e = {
            "event_id": f"{tag}-{i}",
            "device_id": f"{admin}-CK-{tag}{d}",
            "violation": violation,
            "captured_at": (t0 + timedelta(seconds=rng.randrange(2400))).isoformat(),
            "plate": f"鲁{tag}{rng.randrange(plates):03d}",
            "vehicle_class": "car",
            "location": {"lat": lat, "lon": lon, "admin_code": admin, "road": f"R{tag}{d % 2}", "km": 10.0},
            "measurements": {"bac_mg_100ml": 92} if violation == "drunk_driving" else {},
            "confidence": 0.95,
        }
        out.append(orjson.dumps(e))
    return out


async def scored_alerts(alerts: Any, tag: str) -> list[str]:
    """The alerts of ``tag``'s events, with the tag taken out (so that two sets compare)."""
    async with alerts.state.runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT kind, dedup_key, count, priority, score, factors, event_ids, plates, first_seen, "
                    "last_seen, version FROM alerts.alerts WHERE event_ids[1] LIKE :t ORDER BY dedup_key, first_seen"
                ),
                {"t": f"{tag}-%"},
            )
        ).all()
    return sorted(
        orjson.dumps([*r[:6], sorted(r.event_ids), *r[7:]], default=str).decode().replace(tag, "~")
        for r in rows
    )


async def test_pipelined_batches_score_as_one_after_the_other(
    alerts: Any, score: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = alerts.state.service.scoring
    t0 = an_hour_ago()
    one, two = events("x7", 600, seed=3, t0=t0), events("x8", 600, seed=3, t0=t0)
    batches = [range(b, b + 150) for b in range(0, 600, 150)]

    for b in batches:  # one after the other, each in its own transaction
        await score([one[i] for i in b])

    overlaid = []
    look_up = pipeline_module.look_up

    async def spy(*args: Any, **kwargs: Any) -> Any:
        overlaid.append(kwargs["pending"] is not None)
        return await look_up(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "look_up", spy)
    pipeline = ScoringPipeline(engine=alerts.state.runtime.engine, rules=s.rules, hazards=s.hazards)
    # Each batch is prepared before the one before it writes anything: its lookups always need
    # the uncommitted batch's sightings.
    flight = await pipeline.prepare([two[i] for i in batches[0]])
    for b in batches[1:]:
        following = await pipeline.prepare([two[i] for i in b])
        await pipeline.apply(flight)
        flight = following
    await pipeline.apply(flight)
    assert overlaid == [False, True, True, True]

    expected = await scored_alerts(alerts, "x7")
    kinds = {orjson.loads(a)[0] for a in expected}
    assert kinds == {"violation", "plate_fraud", "racing_group"} and len(expected) > 50
    assert await scored_alerts(alerts, "x8") == expected


async def test_skipping_open_alert_lookups_the_history_rules_out_changes_nothing(
    alerts: Any, score: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A violation whose plate has no sighting of it within the dedup window looks up no open
    alerts (``scoring.service.may_join_stored``): the alerts are the same as with every lookup."""
    t0 = an_hour_ago()
    one, two = events("x4", 600, seed=11, plates=150, t0=t0), events("x5", 600, seed=11, plates=150, t0=t0)
    decided: list[bool] = []
    may_join_stored = scoring_service.may_join_stored

    def spy(*args: Any) -> bool:
        decided.append(may_join_stored(*args))
        return decided[-1]

    monkeypatch.setattr(scoring_service, "may_join_stored", spy)
    for b in range(0, 600, 100):
        await score(one[b : b + 100])
    monkeypatch.setattr(scoring_service, "may_join_stored", lambda *args: True)
    for b in range(0, 600, 100):
        await score(two[b : b + 100])

    assert 100 < decided.count(False) < 500  # most lookups skipped, many not
    expected = await scored_alerts(alerts, "x5")
    merged = [a for a in expected if orjson.loads(a)[0] == "violation" and orjson.loads(a)[2] > 1]
    assert len(merged) > 10  # events that joined an alert stored by an earlier batch, among others
    assert await scored_alerts(alerts, "x4") == expected


async def test_a_failed_write_starts_the_batch_over(alerts: Any, score: Any) -> None:
    s = alerts.state.service.scoring
    values = events("x9", 40, seed=5)
    pipeline = ScoringPipeline(engine=alerts.state.runtime.engine, rules=s.rules, hazards=s.hazards)
    flight = await pipeline.prepare(values)
    assert flight.tx is not None
    await flight.tx.driver.close()  # the connection is lost before the alerts are written
    with pytest.raises(InterfaceError):
        await pipeline.apply(flight)
    result = await pipeline.apply(flight)  # as the consumer runner retries
    assert (result.new, result.duplicates) == (40, 0) and result.alerts_written > 0
    again = await score(values)
    assert (again.new, again.duplicates, again.alerts_written) == (0, 40, 0)


async def test_a_batch_whose_preparation_failed_is_scored_when_applied(
    alerts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = alerts.state.service.scoring
    pipeline = ScoringPipeline(engine=alerts.state.runtime.engine, rules=s.rules, hazards=s.hazards)

    async def lost(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionResetError("the database went away")

    monkeypatch.setattr(pipeline_module, "look_up", lost)
    flight = await pipeline.prepare(events("x6", 30, seed=7))
    assert flight.tx is None and flight.scored is None
    monkeypatch.undo()
    result = await pipeline.apply(flight)
    assert (result.new, result.duplicates) == (30, 0) and result.alerts_written > 0


async def test_scoring_transactions_stop_waiting_for_a_lock(alerts: Any) -> None:
    """A wait the database cannot see as a deadlock (see scoring.pipeline) ends in an error."""
    tx = await Transaction.begin(alerts.state.runtime.engine)
    try:
        assert await tx.driver.fetchval("SHOW lock_timeout") == f"{LOCK_TIMEOUT_S}s"
    finally:
        await tx.close()
