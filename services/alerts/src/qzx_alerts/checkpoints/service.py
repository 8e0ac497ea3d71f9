"""Checking passages: hotlist hits (kind ``hotlist_hit``, the entry's priority floor and covert
rule, the direction of travel) and cloned plates (the plate's last sighting too far away for the
time between, against the travel times learned from passages). Pure, in memory: the consumer
writes what it finds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from prometheus_client import Counter

from qzx_alerts.checkpoints.index import HotlistIndex, WatchEntry
from qzx_alerts.checkpoints.sightings import Last, LastSightings
from qzx_alerts.checkpoints.snapshot import Encoded
from qzx_alerts.scoring.correlation import Learned, Pair, Seen, believable_s, clone_proposals, device_pair
from qzx_alerts.scoring.domain import Factor, Proposal, Sighting, factor, hit_key
from qzx_alerts.scoring.factors import finish, hotlist
from qzx_alerts.scoring.rules import Rules
from qzx_common.contracts.alerts import HOTLIST_HIT
from qzx_common.contracts.geo import city_code, haversine_km
from qzx_common.contracts.passage_reader import PassageRow

PASSAGES = Counter("qzx_alerts_passages_total", "Passages checked, and what they raised", ["outcome"])
PASSAGE = "passage"  # the "violation" of a passage's sighting in the clone check
COMPASS_DEG = {"N": 0, "NE": 45, "E": 90, "SE": 135, "S": 180, "SW": 225, "W": 270, "NW": 315}


def direction_factors(p: PassageRow) -> list[Factor]:
    """The direction of travel (and a heading, which dispatch's intercept points follow)."""
    if p.direction is None:
        return []
    speed = f" at {p.speed_kmh:.0f} km/h" if p.speed_kmh is not None else ""
    out = [factor("direction", p.direction, 0, f"travelling {p.direction} past {p.device_id}{speed}")]
    if (deg := COMPASS_DEG.get(p.direction)) is not None:
        out.append(factor("heading_deg", deg, 0, f"heading {deg}°: intercept at the checkpoints ahead"))
    return out


def hit_proposal(p: PassageRow, entries: list[WatchEntry], rules: Rules) -> Proposal:
    """One finding per passage: the most urgent of the entries it matched names the floor (a
    covert one withholds its reason, as for violations)."""
    assert p.plate is not None
    listed, floor = hotlist([e.hit for e in entries], rules)
    assert listed is not None
    scored = finish([listed, *direction_factors(p)], floor, rules)
    return Proposal(
        kind=HOTLIST_HIT,
        dedup_key=hit_key(city_code(p.admin_code), p.plate),
        seed=p.passage_id,
        score=scored.score,
        priority=scored.priority,
        factors=scored.factors,
        violations=[],
        plate=p.plate,
        plates=[p.plate],
        admin_code=p.admin_code,
        lat=p.lat,
        lon=p.lon,
        road=p.road,
        km=p.km,
        device_id=p.device_id,
        first_seen=p.captured_at,
        last_seen=p.captured_at,
        evidence=[],  # a passage carries no pictures
        event_ids=[p.passage_id],
        window_s=rules.hotlist.hit_window_s,
    )


def sighting_of(p: PassageRow) -> Sighting:
    return Sighting(
        p.passage_id, p.device_id, PASSAGE, p.plate, p.captured_at, p.lat, p.lon, p.admin_code, p.road, p.km
    )


def seen_of(last: Last, plate: str) -> Seen:
    at = datetime.fromtimestamp(last.ts, UTC)
    return Seen(last.passage_id, plate, PASSAGE, last.device_id, last.lat, last.lon, last.admin_code, at)


class LinkedPassage(NamedTuple):
    """What the alert detail shows of a passage a finding links to, stored when the finding is
    raised (in the column order of ``passage_sightings``)."""

    passage_id: str
    plate: str | None
    device_id: str
    lat: float
    lon: float
    admin_code: str
    captured_at: datetime
    road: str | None
    km: float | None


def linked_passage(p: PassageRow) -> LinkedPassage:
    return LinkedPassage(
        p.passage_id, p.plate, p.device_id, p.lat, p.lon, p.admin_code, p.captured_at, p.road, p.km
    )


def linked_last(last: Last, plate: str) -> LinkedPassage:
    """A plate's last sighting, as much as is kept of it (no road or km)."""
    at = datetime.fromtimestamp(last.ts, UTC)
    return LinkedPassage(
        last.passage_id, plate, last.device_id, last.lat, last.lon, last.admin_code, at, None, None
    )


@dataclass(slots=True)
class Checked:
    """What a batch of passages raised (and the passages its findings link to, by id), the
    plausible passages to learn travel times from, and a partition's state encoded, to write
    once the batch is committed."""

    checked: int = 0
    proposals: list[Proposal] = field(default_factory=list)
    linked: dict[str, LinkedPassage] = field(default_factory=dict)
    passages: list[tuple[Pair, float]] = field(default_factory=list)
    rejected: dict[int, str] = field(default_factory=dict)
    snapshot: Encoded | None = None


@dataclass
class Matcher:
    index: HotlistIndex
    sightings: LastSightings
    learned: dict[Pair, Learned]
    rules: Rules

    def check(self, partition: int, p: PassageRow, out: Checked, *, now_ts: float) -> None:
        """Hits and clones of one passage into ``out``."""
        out.checked += 1
        if p.plate is None:
            return
        if entries := self.index.match(p.plate, p.plate_color, p.admin_code, now_ts):
            PASSAGES.labels("hotlist_hit").inc()
            out.proposals.append(hit_proposal(p, entries, self.rules))
            out.linked[p.passage_id] = linked_passage(p)
        clones, step, last = self.observe(partition, p)
        if clones:
            PASSAGES.labels("plate_fraud").inc()
            out.proposals.extend(clones)
            assert last is not None  # a clone is found against the plate's last sighting
            out.linked[p.passage_id] = linked_passage(p)
            out.linked.setdefault(last.passage_id, linked_last(last, p.plate))
        if step is not None:
            out.passages.append(step)
            self.learn(*step)

    def observe(
        self, partition: int, p: PassageRow
    ) -> tuple[list[Proposal], tuple[Pair, float] | None, Last | None]:
        """Compare ``p`` with its plate's last sighting and keep it as the last: the clone findings,
        or the plausible passage between them; and that last sighting."""
        assert p.plate is not None
        ts = p.captured_at.timestamp()
        last = self.sightings.get(partition, p.plate)
        self.sightings.put(
            partition, p.plate, Last(p.passage_id, p.device_id, p.lat, p.lon, p.admin_code, ts)
        )
        if (
            last is None
            or last.device_id == p.device_id  # neither a clone nor a passage between two devices
            or last.passage_id == p.passage_id
            or abs(ts - last.ts) > self.rules.clone.window_s
        ):
            return [], None, last
        # The common case decided on plain floats; the sightings are built for a finding only
        # (``clone_proposals`` and ``passage`` decide alike: the same distance, gap and bar).
        pair = device_pair(p.device_id, last.device_id)
        distance = haversine_km(p.lat, p.lon, last.lat, last.lon)
        gap = ts - last.ts
        bar = believable_s(distance, self.learned.get(pair), self.rules)
        if distance >= self.rules.clone.min_distance_km and abs(gap) < bar:
            clones = clone_proposals(
                sighting_of(p), seen_of(last, p.plate), self.learned.get(pair), self.rules
            )
            return clones, None, last
        return [], ((pair, gap) if gap > 0 and gap >= bar else None), last

    def learn(self, pair: Pair, seconds: float) -> None:
        fastest, samples = self.learned.get(pair, (seconds, 0))
        self.learned[pair] = (min(fastest, seconds), samples + 1)
