"""Deduplication details the write path relies on: deterministic ids, the event-id cap, unions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qzx_alerts.alerts.merge import _ID_SPACE, OpenAlert, alert_id, merge
from qzx_alerts.scoring.domain import Proposal, fraud_key, hit_key, plate_keys, violation_key
from qzx_common.contracts.alerts import Priority
from qzx_common.contracts.events import Violation

T0 = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("key", "seed"),
    [("v:鲁A12345:speeding", "e-1"), ("racing:seg:370100:G2:206", "x"), ("", ""), ("fraud:鲁B1|2", "é")],
)
def test_alert_ids_are_uuid5_of_key_and_seed(key: str, seed: str) -> None:
    assert alert_id(key, seed) == str(uuid.uuid5(uuid.UUID(bytes=_ID_SPACE), f"{key}|{seed}"))


def test_plate_keys_name_every_alert_a_plate_can_have() -> None:
    keys = plate_keys("鲁A12345", "3701")
    assert keys == plate_keys("鲁A12345", "370102")  # a district's alerts have its city's keys
    assert fraud_key("370100", "鲁A12345") in keys
    assert hit_key("370100", "鲁A12345") in keys  # a checkpoint's hotlist hit
    assert {violation_key("370100", "鲁A12345", v.value) for v in Violation} <= set(keys)
    assert len(keys) == len(Violation) + 2
    province = plate_keys("鲁A12345", "37")
    assert len(province) == 16 * len(keys) and set(keys) <= set(province)


def group(seed: str, members: list[tuple[str, str]], at: datetime, score: float = 55.0) -> Proposal:
    """A racing-group proposal over (event id, plate) members."""
    return Proposal(
        kind="racing_group",
        dedup_key="racing:seg:370100:G2:206",
        seed=seed,
        score=score,
        priority=Priority.P2,
        factors=[{"name": "racing_group", "value": len(members), "contribution": score, "why": "w"}],
        violations=["speeding"],
        plate=None,
        plates=sorted({p for _, p in members}),
        admin_code="370102",
        lat=36.6,
        lon=117.1,
        road="G2",
        km=412.0,
        device_id="D1",
        first_seen=at,
        last_seen=at + timedelta(seconds=30),
        evidence=[],
        event_ids=[e for e, _ in members],
        window_s=900,
    )


def member(minute: int) -> Proposal:
    """One racing plate at ``minute``, under a 600 s span limit (as the rules set it)."""
    p = group(f"e{minute}", [(f"e{minute}", f"P{minute % 3}")], T0 + timedelta(minutes=minute))
    p.max_span_s = 600
    return p


def test_groups_fold_members_plates_and_cap_event_ids_while_counting_on() -> None:
    first = group("a", [("a", "P1"), ("b", "P2")], T0)
    (alert,) = merge([], [first], max_event_ids=3)
    assert alert.created and alert.event_ids == ["a", "b"] and alert.plates == ["P1", "P2"]

    more = group("a", [("a", "P1"), ("b", "P2"), ("c", "P0"), ("d", "P2")], T0 + timedelta(seconds=20), 60)
    (same,) = merge([alert], [more], max_event_ids=3)
    assert same is alert and same.count == 4 and same.event_ids == ["a", "b", "c"]
    assert same.plates == ["P0", "P1", "P2"] and same.score == 60
    assert merge([same], [more], max_event_ids=3) == []  # nothing new: unchanged, not rewritten
    (again,) = merge([same], [group("a", [("e", "P1")], T0 + timedelta(seconds=40))], max_event_ids=3)
    assert again.count == 5 and again.event_ids == ["a", "b", "c"] and again.plates == ["P0", "P1", "P2"]


def test_an_alert_read_back_is_normalised_like_every_write_leaves_it() -> None:
    row: dict[str, Any] = {
        "id": "x",
        "kind": "racing_group",
        "dedup_key": "racing:seg:370100:G2:206",
        "score": 50.0,
        "priority": "P2",
        "factors": [],
        "violations": ["street_racing", "speeding", "speeding"],
        "plate": None,
        "plates": ["P2", "P1"],
        "admin_code": "370102",
        "lat": 36.6,
        "lon": 117.1,
        "road": "G2",
        "km": 412.0,
        "device_id": "D1",
        "first_seen": T0,
        "last_seen": T0,
        "evidence": [],
        "count": 2,
        "event_ids": ("a", "b"),
    }
    a = OpenAlert.from_row(row)
    assert a.priority is Priority.P2 and a.event_ids == ["a", "b"]
    assert a.violations == ["speeding", "street_racing"] and a.plates == ["P1", "P2"]


def test_a_group_that_would_outgrow_its_span_goes_on_as_the_next_alert() -> None:
    alerts = merge([], [member(m) for m in range(0, 30, 2)], max_event_ids=500)  # racing for half an hour
    spans = [(a.last_seen - a.first_seen).total_seconds() for a in alerts]
    assert len(alerts) == 3 and max(spans) <= 600
    assert sum(a.count for a in alerts) == 15 and len({a.id for a in alerts}) == 3
    unbounded = [group(f"e{m}", [(f"e{m}", "P")], T0 + timedelta(minutes=m)) for m in range(0, 30, 2)]
    (one,) = merge([], unbounded, max_event_ids=500)  # without a span limit: one alert for ever
    assert one.count == 15


def test_a_member_reported_late_joins_the_earlier_group_alert_it_fits_in() -> None:
    (early,) = merge([], [member(0), member(6)], max_event_ids=500)
    (late,) = merge([early], [member(12)], max_event_ids=500)  # too long for the first: the next
    assert late is not early and late.created
    # Minute 1 arrives last: the later alert would stretch past 600 s, the earlier one takes it.
    (joined,) = merge([early, late], [member(1)], max_event_ids=500)
    assert joined is early and early.count == 3 and late.count == 1
