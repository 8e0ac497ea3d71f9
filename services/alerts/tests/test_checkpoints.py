"""The checkpoint matcher: the hotlist index, the bounded last sightings, clone findings over
passages (unit), and the sightings rebuilt from passages.accepted.v1 after a restart (real broker)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qzx_alerts.checkpoints.index import HotlistIndex, WatchEntry
from qzx_alerts.checkpoints.rebuild import rebuild
from qzx_alerts.checkpoints.service import Checked, Matcher
from qzx_alerts.checkpoints.sightings import Last, LastSightings
from qzx_alerts.scoring.domain import HotlistHit
from qzx_alerts.scoring.rules import load_rules
from qzx_common.contracts.alerts import Priority
from qzx_common.contracts.devices import DEVICE_BY_ID
from qzx_common.contracts.passage_reader import PassageRow, passage_json
from qzx_common.topics import PASSAGES_ACCEPTED
from qzx_dev.testing import Stack

RULES = load_rules()
NOW = datetime.now(UTC)


def entry(
    entry_id: str, plate: str, *, color: str | None = None, expires: float | None = None, scope: str = "37"
) -> WatchEntry:
    return WatchEntry(
        HotlistHit(entry_id, plate, Priority.P1, "wanted", "console", False, scope), color, expires
    )


def passage(plate: str, device_id: str, at: datetime, *, color: str = "blue") -> PassageRow:
    d = DEVICE_BY_ID[device_id]
    pid = f"{device_id}-{uuid.uuid4().hex[:10]}"
    return PassageRow(
        pid,
        device_id,
        at,
        plate,
        color,
        "car",
        "N",
        1,
        80.0,
        d.lat,
        d.lon,
        d.admin_code,
        d.road,
        d.km,
        0.9,
        None,
    )


def matcher(index: HotlistIndex | None = None, *, max_plates: int = 100) -> Matcher:
    return Matcher(
        index=index or HotlistIndex(), sightings=LastSightings(max_plates=max_plates), learned={}, rules=RULES
    )


def test_the_index_matches_plate_colour_expiry_and_scope_and_follows_changes() -> None:
    index = HotlistIndex()
    now = NOW.timestamp()
    index.replace(
        (),
        [
            entry("a", "鲁A11111"),
            entry("b", "鲁A11111", color="yellow"),
            entry("c", "鲁A22222", expires=now - 1),
        ],
    )
    index.replace((), [entry("d", "鲁A33333", scope="3702")])
    assert [e.hit.id for e in index.match("鲁A11111", "blue", "370102", now)] == ["a"]
    assert {e.hit.id for e in index.match("鲁A11111", "yellow", "370102", now)} == {"a", "b"}
    assert index.match("鲁A22222", "blue", "370102", now) == []  # expired
    assert index.match("鲁A33333", "blue", "370102", now) == []  # Qingdao's entry, a Jinan passage
    assert len(index.match("鲁A33333", "blue", "370202", now)) == 1
    index.replace(["a", "b"], [entry("b", "鲁A11111")])  # a deleted, b changed to any colour
    assert [e.hit.id for e in index.match("鲁A11111", "blue", "370102", now)] == ["b"]
    index.replace(["b"], [])
    assert "鲁A11111" not in index.by_plate and len(index) == 2


def test_last_sightings_are_bounded_per_partition_and_keep_the_latest() -> None:
    s = LastSightings(max_plates=2)
    for n, plate in enumerate(["P1", "P2", "P1", "P3"]):
        s.put(0, plate, Last(f"x{n}", "d", 0, 0, "370102", float(n)))
    assert s.get(0, "P2") is None and s.get(0, "P1") and s.get(0, "P3")  # P2 least recently seen
    s.put(0, "P1", Last("late", "d", 0, 0, "370102", -5.0))  # an earlier passage delivered late
    assert s.get(0, "P1").passage_id == "x2"  # type: ignore[union-attr]
    s.put(1, "P1", Last("other", "d", 0, 0, "370102", 0.0))
    assert len(s) == 3


def test_impossible_travel_between_checkpoints_is_plate_fraud_and_plausible_travel_is_learned() -> None:
    m = matcher()
    out = Checked()
    m.check(
        0, passage("鲁A55555", "370102-CK-0001", NOW - timedelta(minutes=30)), out, now_ts=NOW.timestamp()
    )
    m.check(
        0, passage("鲁A55555", "370202-CK-0001", NOW - timedelta(minutes=20)), out, now_ts=NOW.timestamp()
    )
    assert sorted(p.kind for p in out.proposals) == ["plate_fraud", "plate_fraud"]  # one per city
    assert all(len(p.event_ids) == 1 for p in out.proposals)
    out = Checked()
    m.check(0, passage("鲁A66666", "370102-CK-0001", NOW - timedelta(hours=3)), out, now_ts=NOW.timestamp())
    m.check(0, passage("鲁A66666", "370202-CK-0001", NOW), out, now_ts=NOW.timestamp())
    assert out.proposals == [] and len(out.passages) == 1 and len(m.learned) == 1


@pytest.mark.db
@pytest.mark.kafka
async def test_sightings_are_rebuilt_from_the_topic_so_a_clone_across_a_restart_is_found(
    stack: Stack, producer: Any
) -> None:
    topic = f"{stack.topic_prefix}rebuild-{uuid.uuid4().hex[:6]}.{PASSAGES_ACCEPTED}"
    plate = f"鲁A{uuid.uuid4().int % 100000:05d}"
    before = passage(plate, "370102-CK-0001", NOW - timedelta(minutes=20))
    stale = passage("鲁A00007", "370102-CK-0001", NOW - timedelta(hours=10))  # outside the window
    for p in (stale, before):
        await producer.send_and_wait(topic, passage_json(p), key=p.plate.encode() if p.plate else None)

    restarted = matcher()
    assert (
        await rebuild(
            bootstrap=stack.bootstrap, topic=topic, matcher=restarted, window_s=RULES.clone.window_s
        )
        == 1
    )
    out = Checked()
    partition = next(iter(restarted.sightings.partitions))
    qingdao = passage(plate, "370202-CK-0001", NOW - timedelta(minutes=10))
    restarted.check(partition, qingdao, out, now_ts=NOW.timestamp())
    assert [p.kind for p in out.proposals] == ["plate_fraud", "plate_fraud"]
    # Delivered again after the rebuild: the last sighting itself raises nothing, and the earlier
    # one the same findings (the same keys and passages, which the alerts absorb once).
    again = Checked()
    restarted.check(partition, qingdao, again, now_ts=NOW.timestamp())
    assert again.proposals == []
    restarted.check(partition, before, again, now_ts=NOW.timestamp())
    assert {(p.dedup_key, tuple(p.event_ids)) for p in again.proposals} == {
        (p.dedup_key, tuple(p.event_ids)) for p in out.proposals
    }
