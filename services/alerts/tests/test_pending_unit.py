"""history.pending: a batch not yet committed, added to the next batch's lookups as the database
would answer them after its commit. Pure functions, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from qzx_alerts.history.pending import (
    Pending,
    add_learned,
    add_prior_counts,
    add_same_plate,
    add_same_segment,
)
from qzx_alerts.history.repository import SAME_PLATE_LIMIT, SAME_SEGMENT_LIMIT
from qzx_alerts.scoring.correlation import Seen
from qzx_alerts.scoring.domain import Sighting

T0 = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def sighting(
    event_id: str, seconds: float, *, plate: str | None = "鲁A12345", group: str | None = None
) -> Sighting:
    return Sighting(
        event_id=event_id,
        device_id="370102-CK-0001",
        violation="speeding",
        plate=plate,
        captured_at=at(seconds),
        lat=36.65,
        lon=117.12,
        admin_code="370102",
        group_key=group,
    )


def seen(event_id: str, seconds: float) -> Seen:
    return Seen(event_id, "鲁A12345", "speeding", "370102-CK-0001", 36.65, 117.12, "370102", at(seconds))


def test_prior_counts_add_the_earlier_pending_sightings_within_the_window() -> None:
    day = 86400
    pending = Pending.of(
        [sighting("old", -31 * day), sighting("in", -29 * day), sighting("same", 0), sighting("after", 60)],
        [],
    )
    priors = {"e": 2}
    add_prior_counts(
        priors, [sighting("e", 0), sighting("other", 0, plate="鲁B00000")], pending, window_days=30
    )
    assert priors == {"e": 3}  # "in" only: "old" is outside, "same" and "after" are not earlier


def test_same_plate_merges_latest_first_and_keeps_the_limit() -> None:
    stored = [seen(f"db{i}", -i) for i in range(SAME_PLATE_LIMIT)]  # as the query returns them
    pending = Pending.of([sighting("p-near", 0.5), sighting("p-far", 5000)], [])
    found = {"e": stored}
    add_same_plate(found, [sighting("e", 0)], pending, window_s=3600)
    ids = [o.event_id for o in found["e"]]
    assert ids[:2] == ["p-near", "db0"] and len(ids) == SAME_PLATE_LIMIT and "p-far" not in ids


def test_same_segment_merges_earliest_first_and_only_on_the_segment() -> None:
    pending = Pending.of(
        [
            sighting("p1", -30, group="seg:G2:1"),
            sighting("p2", 10, group="seg:G2:2"),
            sighting("p3", 500, group="seg:G2:1"),
        ],
        [],
    )
    found = {"e": [seen("e", 0)]}
    add_same_segment(found, [sighting("e", 0, group="seg:G2:1")], pending, window_s=120)
    assert [o.event_id for o in found["e"]] == ["p1", "e"]
    crowded = {"e": [seen(f"db{i}", i) for i in range(SAME_SEGMENT_LIMIT)]}
    add_same_segment(crowded, [sighting("e", 0, group="seg:G2:1")], pending, window_s=120)
    assert crowded["e"][0].event_id == "p1" and len(crowded["e"]) == SAME_SEGMENT_LIMIT


def test_learned_travel_adds_the_pending_passages_as_learning_them_would() -> None:
    ab, bc, cd = ("a", "b"), ("b", "c"), ("c", "d")
    pending = Pending.of([], [(ab, 900.0), (ab, 600.0), (bc, 300.0)])
    assert pending.learned == {ab: (600.0, 2), bc: (300.0, 1)}
    learned = {ab: (700.0, 3), cd: (100.0, 9)}
    add_learned(learned, {ab, cd}, pending)
    # The fastest and the count of both; a pair this batch does not ask about is left out.
    assert learned == {ab: (600.0, 5), cd: (100.0, 9)}
