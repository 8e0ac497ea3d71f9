"""ViolationEvent: the camera/exchange input contract, with the plausibility rules.

Every rule raises a message that names the offending field, because the reason goes verbatim into
the dead-letter header and the exchange's per-item errors.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from qzx_common.contracts.geo import LAT_MAX, LAT_MIN, LON_MAX, LON_MIN
from qzx_common.reasons import clean_reason


class DeviceKind(StrEnum):
    checkpoint = "checkpoint"
    speed_camera = "speed_camera"
    weigh_in_motion = "weigh_in_motion"
    noise_camera = "noise_camera"
    breath_checkpoint = "breath_checkpoint"
    ebike_camera = "ebike_camera"


class Violation(StrEnum):
    drunk_driving = "drunk_driving"
    overload = "overload"
    street_racing = "street_racing"
    noise_modified = "noise_modified"
    speeding = "speeding"
    red_light = "red_light"
    wrong_way = "wrong_way"
    fake_plate = "fake_plate"
    no_plate = "no_plate"
    ebike_red_light = "ebike_red_light"
    ebike_wrong_way = "ebike_wrong_way"
    ebike_overload = "ebike_overload"


EBIKE_VIOLATIONS = frozenset({Violation.ebike_red_light, Violation.ebike_wrong_way, Violation.ebike_overload})
PLATELESS_ALLOWED = EBIKE_VIOLATIONS | {Violation.no_plate}


class PlateColor(StrEnum):
    blue = "blue"
    yellow = "yellow"
    green = "green"
    yellow_green = "yellow-green"
    white = "white"
    black = "black"


class VehicleClass(StrEnum):
    car = "car"
    truck = "truck"
    bus = "bus"
    motorcycle = "motorcycle"
    ebike = "ebike"
    hazmat = "hazmat"
    other = "other"


PROVINCE_CHARS = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领"
# Province character + issuing-office letter + 5 characters, or 6 for green new-energy plates;
# letters I and O are never issued. Special suffixes (学 警 挂 港 澳) take the last place.
PLATE_RE = re.compile(
    rf"^[{PROVINCE_CHARS}][A-HJ-NP-Z](?:[A-HJ-NP-Z0-9]{{4}}[A-HJ-NP-Z0-9学警挂港澳]|[A-HJ-NP-Z0-9]{{6}})$"
)
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
FUTURE_TOLERANCE = timedelta(minutes=5)
# Real UTC offsets only (docs/contract.md): ISO 8601 allows up to ±23:59, PostgreSQL refuses ±16:00 on.
UTC_OFFSETS = (timedelta(hours=-12), timedelta(hours=14))
# No camera captured anything before this: older is a clock fault (and year-1 times overflow).
EARLIEST_CAPTURE = datetime(1970, 1, 1, tzinfo=UTC)


def capture_time_problem(at: datetime, field: str = "captured_at") -> str | None:
    """Why ``at`` (timezone-aware) cannot be the time in ``field``, or None."""
    offset = at.utcoffset()
    if offset is None or not UTC_OFFSETS[0] <= offset <= UTC_OFFSETS[1]:
        return f"{field}: the UTC offset must be between -12:00 and +14:00"
    if at < EARLIEST_CAPTURE:
        return f"{field}: before 1970-01-01"
    if at - datetime.now(UTC) > FUTURE_TOLERANCE:
        return f"{field}: more than 5 minutes in the future"
    return None


def normalise_plate(value: str) -> str | None:
    """Upper-case, drop separators, then check the format; None for a blank plate."""
    value = value.strip().upper().replace(" ", "").replace("·", "").replace("-", "")
    if not value:
        return None
    if not PLATE_RE.match(value):
        raise ValueError("not a valid plate (province character + letter + 5 or 6 characters)")
    return value


def _plate_or_other(value: object) -> object:
    return normalise_plate(value) if isinstance(value, str) else value


# A plate as sent (lower case, separators) normalised before it is checked; null when none was read.
Plate = Annotated[str | None, BeforeValidator(_plate_or_other)]

EventId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\w.:\-]+$")]
DeviceId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\w.:\-]+$")]


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=LAT_MIN, le=LAT_MAX, description="inside the province's bounds")
    lon: float = Field(ge=LON_MIN, le=LON_MAX, description="inside the province's bounds")
    admin_code: Annotated[str, StringConstraints(pattern=r"^37[0-9]{4}$")] = Field(
        description="6-digit GB/T 2260 code inside the province (37xxxx)"
    )
    road: Annotated[str, StringConstraints(max_length=64)] | None = None
    km: float | None = Field(default=None, ge=0, le=10000)


class Measurements(BaseModel):
    """Physically plausible ranges; anything outside is a sensor fault or tampering."""

    model_config = ConfigDict(extra="forbid")

    speed_kmh: float | None = Field(default=None, ge=0, le=400)
    speed_limit_kmh: float | None = Field(default=None, ge=5, le=150)
    gross_weight_kg: float | None = Field(default=None, gt=0, le=300_000)
    weight_limit_kg: float | None = Field(default=None, gt=0, le=100_000)
    axles: int | None = Field(default=None, ge=2, le=12)
    noise_db: float | None = Field(default=None, ge=30, le=160)
    bac_mg_100ml: float | None = Field(default=None, ge=0, le=500)
    riders: int | None = Field(default=None, ge=1, le=10)


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uri: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    sha256: Annotated[str, StringConstraints(pattern=SHA256_RE.pattern)]


class ViolationEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: EventId
    device_id: DeviceId
    device_kind: DeviceKind | None = None
    captured_at: AwareDatetime
    violation: Violation
    plate: Plate = None
    plate_color: PlateColor | None = None
    vehicle_class: VehicleClass | None = None
    location: Location
    measurements: Measurements | None = None
    confidence: float | None = Field(default=None, ge=0, le=1)
    evidence: list[Evidence] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _cross_field(self) -> Self:
        if problem := capture_time_problem(self.captured_at):
            raise ValueError(problem)
        if self.plate is None and self.violation not in PLATELESS_ALLOWED:
            raise ValueError(f"plate: required for violation {self.violation.value}")
        m = self.measurements
        speeds_known = m is not None and m.speed_kmh is not None and m.speed_limit_kmh is not None
        if speeds_known and self.violation == Violation.speeding and m.speed_kmh <= m.speed_limit_kmh:  # type: ignore[union-attr,operator]
            raise ValueError("measurements.speed_kmh: not above speed_limit_kmh for a speeding event")
        return self


# Plain words for pattern failures (pydantic would quote the regex).
_PATTERN_HINTS = {
    "sha256": "must be 64 lowercase hex characters",
    "admin_code": "must be a 6-digit code inside the province (37xxxx)",
    "event_id": "may contain only letters, digits and . : _ -",
    "passage_id": "may contain only letters, digits and . : _ -",
    "accident_id": "may contain only letters, digits and . : _ -",
    "device_id": "may contain only letters, digits and . : _ -",
}


def find_nul(value: Any, path: str = "") -> str | None:
    """Path of the first string holding U+0000, which PostgreSQL cannot store in text or jsonb."""
    if isinstance(value, str):
        return path or "body" if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = find_nul(key, path) or find_nul(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = find_nul(item, f"{path}.{i}" if path else str(i))
            if found:
                return found
    return None


def describe_error(exc: ValidationError) -> str:
    """One line naming each failing field, e.g. ``location.lat: Input should be <= 38.5``."""
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "json_invalid":
            parts.append(f"malformed JSON: {err['ctx'].get('error', msg) if err.get('ctx') else msg}")
        elif err["type"] == "model_type" and not loc:
            parts.append("body: must be a JSON object")
        elif not loc and ": " in msg:  # model-level rules already name their field
            parts.append(msg)
        elif err["type"] == "extra_forbidden":
            parts.append(f"{loc}: unknown field")
        elif err["type"] == "string_pattern_mismatch" and str(err["loc"][-1]) in _PATTERN_HINTS:
            parts.append(f"{loc}: {_PATTERN_HINTS[str(err['loc'][-1])]}")
        elif err["type"] == "missing":
            parts.append(f"{loc}: required field missing")
        else:
            parts.append(f"{loc}: {msg}" if loc else msg)
    return clean_reason("; ".join(parts))
