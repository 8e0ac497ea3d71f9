"""Checking passages: hotlist hits (kind ``hotlist_hit``, the entry's priority floor and covert
rule, the direction of travel) and cloned plates (the plate's last sighting too far away for the
time between, against the travel times learned from passages). Pure, in memory: the consumer
writes what it finds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import Counter

from qzx_alerts.checkpoints.index import HotlistIndex, WatchEntry
from qzx_alerts.checkpoints.sightings import Last, LastSightings
from qzx_alerts.scoring.correlation import Learned, Pair, Seen, clone_proposals, device_pair, passage
from qzx_alerts.scoring.domain import Factor, Proposal, Sighting, factor, hit_key
from qzx_alerts.scoring.factors import finish, hotlist
from qzx_alerts.scoring.rules import Rules
from qzx_common.contracts.alerts import HOTLIST_HIT
from qzx_common.contracts.geo import city_code
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


@dataclass(slots=True)
class Checked:
    """What a batch of passages raised, and the plausible passages to learn travel times from."""

    checked: int = 0
    proposals: list[Proposal] = field(default_factory=list)
    passages: list[tuple[Pair, float]] = field(default_factory=list)
    rejected: dict[int, str] = field(default_factory=dict)


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
        clones, step = self.observe(partition, p)
        if clones:
            PASSAGES.labels("plate_fraud").inc()
            out.proposals.extend(clones)
        if step is not None:
            out.passages.append(step)
            self.learn(*step)

    def observe(self, partition: int, p: PassageRow) -> tuple[list[Proposal], tuple[Pair, float] | None]:
        """Compare ``p`` with its plate's last sighting and keep it as the last: the clone findings,
        or the plausible passage between them."""
        assert p.plate is not None
        ts = p.captured_at.timestamp()
        last = self.sightings.get(partition, p.plate)
        self.sightings.put(
            partition, p.plate, Last(p.passage_id, p.device_id, p.lat, p.lon, p.admin_code, ts)
        )
        if last is None or last.passage_id == p.passage_id or abs(ts - last.ts) > self.rules.clone.window_s:
            return [], None
        s, other = sighting_of(p), seen_of(last, p.plate)
        pair = device_pair(s.device_id, other.device_id)
        clones = clone_proposals(s, other, self.learned.get(pair), self.rules)
        if clones:
            return clones, None
        return [], passage(s, [other], self.learned, self.rules)

    def learn(self, pair: Pair, seconds: float) -> None:
        fastest, samples = self.learned.get(pair, (seconds, 0))
        self.learned[pair] = (min(fastest, seconds), samples + 1)
