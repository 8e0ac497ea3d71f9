"""What scoring works on: the alerts service's own view of an accepted violation event, and the
context found for it (history, hotlists, hazards). Plain dataclasses: tens of thousands a second."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from qzx_common.contracts.alerts import EVIDENCE_KEPT, Priority
from qzx_common.contracts.events import Violation
from qzx_common.contracts.geo import CITIES, city_code, haversine_km

Factor = dict[str, Any]  # {"name", "value", "contribution", "why"} (contracts.alerts.Factor)


def factor(name: str, value: Any, contribution: float, why: str) -> Factor:
    return {"name": name, "value": value, "contribution": round(contribution, 2), "why": why}


# {"event_id", "uri", "sha256"} (contracts.alerts.AlertEvidence): one picture of one event.
Evidence = dict[str, Any]

Finding = tuple[Factor | None, Priority | None]  # a factor (if it applies) and a priority floor


@dataclass(slots=True)
class EventFindings:
    """The findings that depend on the event alone, not on history or reference data."""

    severity: Finding
    night: Finding
    vehicle_class: Finding
    school_commute: Finding
    low_confidence: Finding


@dataclass(slots=True)
class Sighting:
    """One accepted violation event (the fields of the normalised ViolationEvent alerts uses)."""

    event_id: str
    device_id: str
    violation: str
    plate: str | None
    captured_at: datetime
    lat: float
    lon: float
    admin_code: str
    road: str | None = None
    km: float | None = None
    vehicle_class: str | None = None
    measurements: dict[str, Any] = field(default_factory=dict)
    confidence: float | None = None
    group_key: str | None = None  # set for racing-class events: "seg:<road>:<n>" or "dev:<id>"
    own: EventFindings | None = None  # factors.own_findings, computed once
    evidence: list[Evidence] = field(default_factory=list)  # its pictures, as an alert carries them

    def m(self, name: str) -> float | None:
        value = self.measurements.get(name)
        return float(value) if value is not None else None


def parse_event(value: bytes) -> Sighting:
    """The normalised ViolationEvent JSON ingest publishes (validated there, so only read here:
    a full pydantic validation would cost more than the scoring). Raises ValueError/KeyError."""
    e = orjson.loads(value)
    loc = e["location"]
    captured_at = datetime.fromisoformat(e["captured_at"])
    if captured_at.tzinfo is None:
        raise ValueError("captured_at: no UTC offset")
    # In UTC, like every time read back from the database: comparing times in one zone is cheap.
    captured_at = captured_at.astimezone(UTC)
    return Sighting(
        event_id=e["event_id"],
        device_id=e["device_id"],
        violation=e["violation"],
        plate=e.get("plate"),
        captured_at=captured_at,
        lat=float(loc["lat"]),
        lon=float(loc["lon"]),
        admin_code=loc["admin_code"],
        road=loc.get("road"),
        km=loc.get("km"),
        vehicle_class=e.get("vehicle_class"),
        measurements=e.get("measurements") or {},
        confidence=e.get("confidence"),
        evidence=[
            {"event_id": e["event_id"], "uri": str(x["uri"]), "sha256": x.get("sha256")}
            for x in (e.get("evidence") or ())[:EVIDENCE_KEPT]
        ],
    )


# Dedup keys name what an alert is about, and in which city: sightings of two cities never meet in
# one alert, so an alert never changes city and each city sees its own sightings only. Every key
# that names a plate is built here, because the list API finds a plate's alerts through them (exact
# keys on the dedup index).
def violation_key(city: str, subject: str, violation: str) -> str:
    """``city`` is ``geo.city_code`` of the sighting's admin code (as for every key here)."""
    return f"v:{city}:{subject}:{violation}"


def fraud_key(city: str, plate: str) -> str:
    return f"fraud:{city}:{plate}"


def hit_key(city: str, plate: str) -> str:
    """A plate's checkpoint hits in a city (kind hotlist_hit), whichever of its entries matched."""
    return f"hit:{city}:{plate}"


def racing_key(group: str) -> str:
    return f"racing:{group}"  # the group key names the city


def plate_keys(plate: str, prefix: str) -> list[str]:
    """Every dedup key an alert whose ``plate`` is ``plate`` can have under the admin-code prefix."""
    cities = (
        [city_code(prefix)] if len(prefix) >= 4 else [c.code for c in CITIES if c.code.startswith(prefix)]
    )
    return [
        k
        for c in cities
        for k in (
            fraud_key(c, plate),
            hit_key(c, plate),
            *(violation_key(c, plate, v.value) for v in Violation),
        )
    ]


def group_key(s: Sighting, *, segment_km: float) -> str:
    """Racing groups gather on one road segment of a city, or at one device when the road is unknown."""
    city = city_code(s.admin_code)
    if s.road and s.km is not None:
        return f"seg:{city}:{s.road}:{int(s.km // segment_km)}"
    return f"dev:{city}:{s.device_id}"


def group_place(group: str) -> str:
    """Where a group key gathers, for people: "G2:206" (road and segment) or the device id."""
    return group.split(":", 2)[2]


@dataclass(frozen=True, slots=True)
class HotlistHit:
    id: str
    plate: str
    priority: Priority
    reason: str
    source: str
    covert: bool
    scope: str  # the owner's admin-code prefix: the entry applies to sightings under it only

    def applies_to(self, admin_code: str) -> bool:
        return admin_code.startswith(self.scope)


@dataclass(frozen=True, slots=True)
class HazardPoint:
    id: str
    name: str
    lat: float
    lon: float
    radius_m: float
    risk_level: str  # low | medium | high
    status: str  # stock | new
    city: str  # its admin code's first four digits: it scores its own city's sightings only


class HazardIndex:
    """Hazard points on a 0.1° grid, so that each event checks only the cells around it."""

    CELL = 0.1

    def __init__(self, points: list[HazardPoint]) -> None:
        self.points = points
        self.cells: dict[tuple[int, int], list[HazardPoint]] = defaultdict(list)
        self.reach = 1
        for p in points:
            self.cells[self._cell(p.lat, p.lon)].append(p)
            # A radius wider than a cell widens the neighbourhood searched.
            self.reach = max(self.reach, math.ceil(p.radius_m / 1000 / (self.CELL * 85)))

    def _cell(self, lat: float, lon: float) -> tuple[int, int]:
        return (math.floor(lat / self.CELL), math.floor(lon / self.CELL))

    def near(self, lat: float, lon: float, admin_code: str) -> list[tuple[HazardPoint, float]]:
        """Hazard points of ``admin_code``'s city whose radius covers (lat, lon), with the distance
        in metres (a point near a city line never scores the neighbour's sightings)."""
        if not self.points:
            return []
        ci, cj = self._cell(lat, lon)
        found = []
        for di in range(-self.reach, self.reach + 1):
            for dj in range(-self.reach, self.reach + 1):
                for p in self.cells.get((ci + di, cj + dj), ()):
                    d = haversine_km(lat, lon, p.lat, p.lon) * 1000
                    if d <= p.radius_m and admin_code.startswith(p.city):
                        found.append((p, d))
        return found


@dataclass(slots=True)
class Context:
    prior_violations: int = 0
    hotlist: list[HotlistHit] = field(default_factory=list)
    hazards: list[tuple[HazardPoint, float]] = field(default_factory=list)


@dataclass(slots=True)
class Scored:
    score: float
    priority: Priority
    factors: list[Factor]


@dataclass(slots=True)
class FindingFacts:
    """What a finding says about its subject, and so what an alert built from findings holds:
    ``Proposal`` and ``alerts.merge.OpenAlert`` are both one."""

    kind: str  # violation | plate_fraud | racing_group
    dedup_key: str
    score: float
    priority: Priority
    factors: list[Factor]
    violations: list[str]
    plate: str | None
    plates: list[str]
    admin_code: str
    lat: float
    lon: float
    road: str | None
    km: float | None
    device_id: str | None
    first_seen: datetime
    last_seen: datetime
    evidence: list[Evidence]  # the latest finding's pictures (an officer's phone shows them)


FINDING_FIELDS = tuple(FindingFacts.__dataclass_fields__)


@dataclass(slots=True)
class Proposal(FindingFacts):
    """One finding about to become (or update) an alert: a scored event, a plate-fraud pair or a
    racing group. ``dedup_key`` names what it is about; ``seed`` (the event it starts from) names the
    alert."""

    seed: str
    event_ids: list[str]
    window_s: int
    # The seed arrived in this batch, so no alert named after it can exist yet: a new alert is
    # inserted without a conflict check.
    seed_is_new: bool = False
    # The longest first-to-last span an alert may grow to by absorbing findings (None: no limit).
    max_span_s: int | None = None
    # False when the history proves that no stored alert of its key meets its window
    # (``scoring.service.may_join_stored``): its open alerts need not be looked up.
    may_join_stored: bool = True
