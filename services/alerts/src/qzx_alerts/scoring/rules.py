"""The scoring rules: a versioned TOML file shipped in this package (``rules.toml``, documented in
place), or another file named by ``QZX_RULES_PATH``. Read once at startup and validated, so that a
bad edit fails the start rather than the scoring."""

from __future__ import annotations

import tomllib
from datetime import time, timedelta, timezone
from functools import cached_property, lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qzx_common.contracts.alerts import Priority

DEFAULT_RULES = Path(__file__).with_name("rules.toml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Grades = list[tuple[float, float]]


class PriorityRule(_Strict):
    min_score: float = Field(ge=0, le=100)
    sign_for_s: int = Field(gt=0)
    feedback_s: int = Field(gt=0)


class Dedup(_Strict):
    window_s: int = Field(gt=0)
    max_event_ids: int = Field(gt=0)


class Bac(_Strict):
    drink_min: float
    drink_points: float
    drink_floor: Priority | None = None
    drunk_min: float
    drunk_points: float
    drunk_floor: Priority | None = None


class Speeding(_Strict):
    grades: Grades
    floor_from_percent: float
    floor: Priority | None = None


class Overload(_Strict):
    grades: Grades
    hundred_ton_kg: float
    hundred_ton_points: float
    hundred_ton_floor: Priority | None = None


class Noise(_Strict):
    grades: Grades


class EbikeRiders(_Strict):
    points_per_extra_rider: float
    max_points: float


class Severity(_Strict):
    base: dict[str, float]
    floors: dict[str, Priority] = Field(default_factory=dict)
    bac: Bac
    speeding: Speeding
    overload: Overload
    noise: Noise
    ebike_riders: EbikeRiders


class RepeatOffender(_Strict):
    window_days: int = Field(gt=0)
    points_per_prior: float
    max_points: float


class Hotlist(_Strict):
    points: float
    # A hotlisted plate's passages within this long of its open hit alert join it (a moving target).
    hit_window_s: int = Field(default=1800, gt=0)


class Night(_Strict):
    start_hour: int = Field(ge=0, le=23)
    end_hour: int = Field(ge=0, le=23)
    points: float


class Hazard(_Strict):
    points: dict[str, float]
    new_bonus: float


class VehicleClass(_Strict):
    hazmat: float
    bus: float
    heavy_truck: float
    heavy_truck_min_kg: float


class SchoolCommute(_Strict):
    windows: list[tuple[time, time]]
    weekdays_only: bool
    min_riders: int
    points: float


class Confidence(_Strict):
    below: float = Field(ge=0, le=1)
    points: float


class Clone(_Strict):
    window_s: int = Field(gt=0)
    max_speed_kmh: float = Field(gt=0)
    min_distance_km: float = Field(ge=0)
    learned_min_samples: int = Field(ge=1)
    learned_tolerance: float = Field(gt=0, le=1)
    points: float
    floor: Priority | None = None
    dedup_window_s: int = Field(gt=0)


class RacingGroup(_Strict):
    violations: frozenset[str]
    window_s: int = Field(gt=0)
    segment_km: float = Field(gt=0)
    min_plates: int = Field(ge=2)
    points: float
    points_per_extra_plate: float
    max_points: float
    floor: Priority | None = None
    dedup_window_s: int = Field(gt=0)
    max_span_s: int = Field(gt=0)


class Rules(_Strict):
    version: str
    utc_offset: str = Field(pattern=r"^[+-]\d{2}:\d{2}$")
    priorities: dict[Priority, PriorityRule]
    dedup: Dedup
    severity: Severity
    repeat_offender: RepeatOffender
    hotlist: Hotlist
    night: Night
    hazard: Hazard
    vehicle_class: VehicleClass
    school_commute: SchoolCommute
    confidence: Confidence
    clone: Clone
    racing_group: RacingGroup

    @cached_property
    def tz(self) -> timezone:
        return _zone(self.utc_offset)

    @cached_property
    def priority_thresholds(self) -> tuple[tuple[float, Priority], ...]:
        """(min_score, priority), most urgent first: computed once, consulted for every event."""
        return tuple((self.priorities[p].min_score, p) for p in sorted(Priority))

    @field_validator("priorities")
    @classmethod
    def _all_priorities(cls, value: dict[Priority, PriorityRule]) -> dict[Priority, PriorityRule]:
        missing = set(Priority) - set(value)
        if missing:
            raise ValueError(f"missing priorities: {', '.join(sorted(missing))}")
        return value

    def priority_for(self, score: float) -> Priority:
        for min_score, p in self.priority_thresholds:  # P1 first
            if score >= min_score:
                return p
        return Priority.P4


@lru_cache(maxsize=8)
def _zone(offset: str) -> timezone:
    sign = -1 if offset.startswith("-") else 1
    hours, minutes = offset[1:].split(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))


def load_rules(path: str | Path | None = None) -> Rules:
    file = Path(path) if path else DEFAULT_RULES
    with file.open("rb") as f:
        return Rules.model_validate(tomllib.load(f))


def highest(*priorities: Priority | None) -> Priority:
    """The most urgent of the given priorities (P1 beats P2); P4 when none."""
    given = [p for p in priorities if p is not None]
    return min(given) if given else Priority.P4
