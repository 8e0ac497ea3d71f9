"""The checkpoint matcher: the hotlist index, the bounded last sightings, clone findings over
passages (unit), and the sightings rebuilt from passages.accepted.v1 after a restart (real broker)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from qzx_alerts.checkpoints.index import HotlistIndex, WatchEntry
from qzx_alerts.checkpoints.rebuild import Span, replay
from qzx_alerts.checkpoints.service import Checked, Matcher, seen_of, sighting_of
from qzx_alerts.checkpoints.sightings import Last, LastSightings
from qzx_alerts.scoring.correlation import clone_proposals, device_pair
from qzx_alerts.scoring.correlation import passage as reference_passage
from qzx_alerts.scoring.domain import HotlistHit
from qzx_alerts.scoring.rules import load_rules
from qzx_common.contracts.alerts import Priority
from qzx_common.contracts.devices import DEVICE_BY_ID
from qzx_common.contracts.passage_reader import PassageRow, passage_json
from qzx_common.topics import PASSAGES_ACCEPTED
from qzx_dev.testing import Stack, eventually

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


def test_a_sighting_packed_reads_back_whole() -> None:
    s = LastSightings(max_plates=10)
    own = Last("370102-CK-0001-000042", "370102-CK-0001", 36.6, 117.1, "370102", 1.7e9 + 0.25)
    foreign = Last("gw-7f3a", "370102-CK-0001", 36.6, 117.1, "370102", 1.7e9)  # no device prefix
    s.put(0, "鲁A12345", own)
    s.put(0, "鲁A12346", foreign)
    assert s.get(0, "鲁A12345") == own and s.get(0, "鲁A12346") == foreign
    assert len(s.partitions[0].places.places) == 1  # the place held once


def test_the_matcher_decides_as_the_clone_and_passage_rules_do() -> None:
    """The matcher's float-only path against ``clone_proposals`` and ``passage`` on the objects,
    over random passages of a few plates at checkpoints near and far, learning as it goes."""
    rng = random.Random(21)
    devices = [d for d in DEVICE_BY_ID if "-CK-" in d][:12]
    m, raised = matcher(), 0
    for n in range(3000):
        plate = f"鲁A{rng.randrange(5):05d}"
        p = passage(plate, rng.choice(devices), NOW - timedelta(seconds=rng.uniform(0, 6 * 3600)))
        last = m.sightings.get(0, plate)
        clones, step, seen = m.observe(0, p)
        assert seen == last
        if (
            last is None
            or last.passage_id == p.passage_id
            or abs(p.captured_at.timestamp() - last.ts) > RULES.clone.window_s
        ):
            assert (clones, step) == ([], None)
            continue
        s, other = sighting_of(p), seen_of(last, plate)
        expected = clone_proposals(s, other, m.learned.get(device_pair(s.device_id, other.device_id)), RULES)
        assert [c.dedup_key for c in clones] == [c.dedup_key for c in expected], n
        if not expected:
            reference = reference_passage(s, [other], m.learned, RULES)
            assert (step is None) == (reference is None), n
            if step is not None and reference is not None:
                assert step[0] == reference[0] and step[1] == pytest.approx(reference[1], abs=1e-3), n
        if step is not None:
            m.learn(*step)
        raised += len(clones)
    assert m.learned and raised  # the run learned travel times and raised findings


@pytest.mark.db
@pytest.mark.kafka
async def test_sightings_are_rebuilt_from_the_topic_so_a_clone_across_a_restart_is_found(
    stack: Stack, producer: Any
) -> None:
    topic = f"{stack.topic_prefix}rebuild-{uuid.uuid4().hex[:6]}.{PASSAGES_ACCEPTED}"
    plate = f"鲁A{uuid.uuid4().int % 100000:05d}"
    before = passage(plate, "370102-CK-0001", NOW - timedelta(minutes=20))
    stale = passage("鲁A00007", "370102-CK-0001", NOW - timedelta(hours=10))  # outside the window
    ends: dict[int, int] = {}
    for p in (stale, before):
        sent = await producer.send_and_wait(topic, passage_json(p), key=p.plate.encode() if p.plate else None)
        ends[sent.partition] = max(ends.get(sent.partition, 0), sent.offset + 1)

    restarted = matcher()
    spans = {partition: Span(None, end) for partition, end in ends.items()}
    assert (
        await replay(
            bootstrap=stack.bootstrap,
            topic=topic,
            matcher=restarted,
            spans=spans,
            window_s=RULES.clone.window_s,
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


async def test_the_detail_of_alerts_raised_from_passages_shows_the_passages(
    alerts: Any, client: httpx.AsyncClient, stack: Stack, producer: Any
) -> None:
    plate = f"鲁A{uuid.uuid4().int % 100000:05d}"
    r = await client.post("/v1/hotlists", json={"plate": plate, "priority": "P2", "reason": "wanted"})
    assert r.status_code == 201, r.text
    sent: dict[str, PassageRow] = {}

    async def pass_by(device_id: str, at: datetime) -> None:
        p = passage(plate, device_id, at)
        sent[p.passage_id] = p
        await producer.send_and_wait(
            stack.topic_prefix + PASSAGES_ACCEPTED, passage_json(p), key=plate.encode()
        )

    async def found(kind: str) -> list[dict[str, Any]]:
        r = await client.get("/v1/alerts", params={"plate": plate, "kind": kind})
        return r.json()["items"]  # type: ignore[no-any-return]

    async def hit() -> list[dict[str, Any]]:
        if not (items := await found("hotlist_hit")):  # until the matcher has heard of the entry
            await pass_by("370102-CK-0001", datetime.now(UTC) - timedelta(minutes=20))
        return items

    (alert,) = await eventually(hit, timeout=20, interval=0.5)
    await pass_by("370202-CK-0001", datetime.now(UTC) - timedelta(minutes=10))  # too soon for Qingdao
    frauds = await eventually(lambda: found("plate_fraud"), timeout=20, interval=0.2)
    for a in [alert, *frauds]:
        detail = (await client.get(f"/v1/alerts/{a['id']}")).json()
        assert sorted(e["event_id"] for e in detail["events"]) == sorted(a["event_ids"]) != []
        for e in detail["events"]:
            p = sent[e["event_id"]]
            assert (e["violation"], e["plate"], e["device_id"], e["admin_code"]) == (
                "passage",
                plate,
                p.device_id,
                p.admin_code,
            )
            assert (datetime.fromisoformat(e["captured_at"]), e["lat"], e["lon"]) == (
                p.captured_at,
                p.lat,
                p.lon,
            )
            # Each was stored with the finding it raised first (the Jinan one with its hit): in full.
            assert (e["road"], e["km"]) == (p.road, p.km)
