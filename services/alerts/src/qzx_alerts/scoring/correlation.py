"""Findings across events: cloned plates (impossible travel between two devices) and racing groups
(several plates racing, speeding or roaring on one road segment at once). Pure functions over the
sightings the repository found; the pipeline turns their proposals into alerts."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, tzinfo

from qzx_alerts.scoring.domain import (
    Context,
    Proposal,
    Sighting,
    factor,
    fraud_key,
    group_place,
    racing_key,
)
from qzx_alerts.scoring.factors import finish, hazard, own_findings
from qzx_alerts.scoring.rules import Rules
from qzx_common.contracts.geo import CITY_BY_CODE, city_code, haversine_km

Pair = tuple[str, str]
Learned = tuple[float, int]  # fastest plausible passage (s), passages observed


@dataclass(slots=True)
class Seen:
    """A stored sighting found near an incoming one (same plate, or same racing segment)."""

    event_id: str
    plate: str | None
    violation: str
    device_id: str
    lat: float
    lon: float
    admin_code: str
    captured_at: datetime


def device_pair(a: str, b: str) -> Pair:
    """Travel times are kept per unordered pair of devices."""
    return (a, b) if a <= b else (b, a)


def _learned_bar(distance_km: float, learned: Learned | None, rules: Rules) -> tuple[float, bool]:
    """The shortest believable time between two devices, and whether observed passages set it."""
    c = rules.clone
    bar = distance_km / c.max_speed_kmh * 3600
    if learned and learned[1] >= c.learned_min_samples and learned[0] * c.learned_tolerance > bar:
        return learned[0] * c.learned_tolerance, True
    return bar, False


def believable_s(distance_km: float, learned: Learned | None, rules: Rules) -> float:
    """The shortest believable time between two devices ``distance_km`` apart."""
    return _learned_bar(distance_km, learned, rules)[0]


def travel_bar_s(distance_km: float, learned: Learned | None, rules: Rules) -> tuple[float, str]:
    """The shortest believable time between two devices, and how it was found."""
    c = rules.clone
    bar, by_passages = _learned_bar(distance_km, learned, rules)
    if by_passages:
        assert learned is not None
        return bar, (
            f"{c.learned_tolerance:g} × the fastest of {learned[1]} observed passages ({learned[0] / 60:.0f} min)"
        )
    return bar, f"{distance_km:.0f} km at {c.max_speed_kmh:g} km/h"


@functools.lru_cache(maxsize=1024)
def _city_name(admin_code: str) -> str:
    city = CITY_BY_CODE.get(city_code(admin_code))
    return city.name if city else city_code(admin_code)


@functools.lru_cache(maxsize=65536)
def _clock(at: datetime, tz: tzinfo) -> str:
    """A sighting's local time as a why names it; a plate's sightings are named once per finding
    with each of its others (up to ``history.repository.SAME_PLATE_LIMIT``): formatted once."""
    return f"{at.astimezone(tz):%H:%M:%S}"


def _place(seen: Seen | Sighting, *, own_city: str, rules: Rules) -> str:
    """A sighting as the why of ``own_city``'s alert names it: its device in that city; in another
    city only the city and the time (that city's devices and positions are not ``own_city``'s to see)."""
    at = _clock(seen.captured_at, rules.tz)
    if city_code(seen.admin_code) != own_city:
        return f"in {_city_name(seen.admin_code)} {at}"
    return f"at {seen.device_id} ({_city_name(seen.admin_code)}) {at}"


def clone_proposals(s: Sighting, other: Seen, learned: Learned | None, rules: Rules) -> list[Proposal]:
    """Plate-fraud findings if ``s`` and ``other`` (same plate) are too far apart for their gap: one
    per city involved, each with that city's sighting only (a city never sees another's)."""
    if other.device_id == s.device_id or s.plate is None:
        return []
    distance = haversine_km(s.lat, s.lon, other.lat, other.lon)
    if distance < rules.clone.min_distance_km:
        return []
    gap = abs((s.captured_at - other.captured_at).total_seconds())
    if gap >= _learned_bar(distance, learned, rules)[0]:
        return []
    bar, basis = travel_bar_s(distance, learned, rules)  # a finding: now explain it
    first, last = (other, s) if other.captured_at <= s.captured_at else (s, other)
    speed = distance / max(gap, 1.0) * 3600
    own: list[Seen | Sighting] = [first, last]
    cities = {city_code(first.admin_code), city_code(last.admin_code)}
    proposals = []
    for city in sorted(cities):
        why = (
            f"{s.plate} {_place(first, own_city=city, rules=rules)} and {_place(last, own_city=city, rules=rules)}: "
            f"{distance:.0f} km in {gap / 60:.1f} min ({speed:.0f} km/h); needs ≥ {bar / 60:.1f} min ({basis})"
        )
        scored = finish(
            [factor("impossible_travel", round(speed), rules.clone.points, why)], rules.clone.floor, rules
        )
        mine = [x for x in own if city_code(x.admin_code) == city]
        at = mine[-1]  # the latest of the city's sightings: where to send its unit
        proposals.append(
            Proposal(
                kind="plate_fraud",
                dedup_key=fraud_key(city, s.plate),
                seed=mine[0].event_id,
                score=scored.score,
                priority=scored.priority,
                factors=scored.factors,
                violations=["fake_plate"],
                plate=s.plate,
                plates=[s.plate],
                admin_code=at.admin_code,
                lat=at.lat,
                lon=at.lon,
                road=s.road if at is s else None,
                km=s.km if at is s else None,
                device_id=at.device_id,
                first_seen=mine[0].captured_at,
                last_seen=at.captured_at,
                evidence=s.evidence if at is s else [],  # the history keeps no pictures
                event_ids=[x.event_id for x in mine],
                window_s=rules.clone.dedup_window_s,
            )
        )
    return proposals


def passage(
    s: Sighting, earlier: list[Seen], learned: dict[Pair, Learned], rules: Rules
) -> tuple[Pair, float] | None:
    """The plausible passage that ends with ``s`` (from the plate's previous sighting at another
    device), to learn travel times from; None when there is none or it looks like a clone."""
    before = [o for o in earlier if o.captured_at < s.captured_at]
    if not before:
        return None
    prev = max(before, key=lambda o: o.captured_at)
    if prev.device_id == s.device_id:
        return None
    pair = device_pair(prev.device_id, s.device_id)
    gap = (s.captured_at - prev.captured_at).total_seconds()
    bar, _ = _learned_bar(haversine_km(s.lat, s.lon, prev.lat, prev.lon), learned.get(pair), rules)
    return (pair, gap) if gap >= bar else None


def racing_proposal(s: Sighting, members: list[Seen], ctx: Context, rules: Rules) -> Proposal | None:
    """One group finding when enough distinct plates share ``s``'s segment within the window."""
    rg = rules.racing_group
    assert s.group_key is not None
    plates = sorted({m.plate for m in members if m.plate})
    if len(plates) < rg.min_plates:
        return None
    members = sorted(members, key=lambda m: (m.captured_at, m.event_id))
    span = (members[-1].captured_at - members[0].captured_at).total_seconds()
    where = group_place(s.group_key)
    points = min(rg.max_points, rg.points + (len(plates) - rg.min_plates) * rg.points_per_extra_plate)
    why = f"{len(plates)} plates racing/speeding/roaring at {where} within {span:.0f} s: {', '.join(plates)}"
    findings = [own_findings(s, rules).night, hazard(ctx.hazards, rules)]
    factors = [factor("racing_group", len(plates), points, why), *(f for f, _ in findings if f)]
    scored = finish(factors, rg.floor, rules)
    return Proposal(
        kind="racing_group",
        dedup_key=racing_key(s.group_key),
        seed=s.event_id,  # not members[0]: that may name the group this one follows (max_span_s)
        score=scored.score,
        priority=scored.priority,
        factors=scored.factors,
        violations=sorted({m.violation for m in members}),
        plate=None,
        plates=plates,
        admin_code=s.admin_code,
        lat=s.lat,
        lon=s.lon,
        road=s.road,
        km=s.km,
        device_id=s.device_id,
        first_seen=members[0].captured_at,
        last_seen=members[-1].captured_at,
        evidence=s.evidence,  # the newest member's: the history keeps no pictures
        event_ids=[m.event_id for m in members],
        window_s=rg.dedup_window_s,
        seed_is_new=True,  # ``s`` is new in this batch
        max_span_s=rg.max_span_s,
    )
