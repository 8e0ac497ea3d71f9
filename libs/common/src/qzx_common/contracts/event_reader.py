"""Reading ViolationEvent JSON at camera rates, with the pydantic model as the authority.

``read_event(raw)`` accepts exactly what ``ViolationEvent.model_validate_json`` accepts, returns the
normalised JSON that ``model_dump_json(exclude_none=True)`` writes, and raises the model's own
``ValidationError`` (so the same reject reasons) for everything else.

Building the model costs more than checking the rules: four model instances per event, Python
validators, and a timezone subtraction through pydantic's ``TzInfo``. Camera JSON is overwhelmingly
in the canonical form, so a fast path validates it as plain dicts against a mirror of the model
(same constraints, checked in pydantic-core) narrowed to the canonical spellings: ASCII ids,
normalised plates, RFC 3339 timestamps. Anything the mirror does not accept - every reject, and
valid but unusual input such as a lower-case plate, a unix timestamp or a non-ASCII id - goes
through the model. So the fast path only ever answers "valid, and here is the model's output".
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, NamedTuple, NotRequired

import orjson
from pydantic import ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from qzx_common.contracts.events import (
    PLATE_RE,
    PLATELESS_ALLOWED,
    SHA256_RE,
    DeviceKind,
    PlateColor,
    VehicleClass,
    Violation,
    ViolationEvent,
    capture_time_problem,
)
from qzx_common.contracts.geo import LAT_MAX, LAT_MIN, LON_MAX, LON_MIN


class EventLocation(NamedTuple):
    lat: float
    lon: float
    admin_code: str


class AcceptedEvent(NamedTuple):
    """A valid event: the fields ingest routes on, and its normalised JSON (``payload``)."""

    event_id: str
    device_id: str
    violation: str
    plate: str | None
    location: EventLocation
    payload: bytes


def read_event(raw: bytes) -> AcceptedEvent:
    """The event in ``raw``; raises ``pydantic.ValidationError`` exactly as the model does."""
    return _read_canonical(raw) or _read_with_model(raw)


def _read_with_model(raw: bytes) -> AcceptedEvent:
    event = ViolationEvent.model_validate_json(raw)
    loc = event.location
    return AcceptedEvent(
        event.event_id,
        event.device_id,
        event.violation.value,
        event.plate,
        EventLocation(loc.lat, loc.lon, loc.admin_code),
        event.model_dump_json(exclude_none=True).encode(),
    )


# --- the mirror: the model's fields and constraints, canonical spellings only -------------------

_FORBID = ConfigDict(extra="forbid")
# ASCII subsets of the model's patterns (its \w and \d also match other scripts' letters/digits).
_ID = r"^[A-Za-z0-9_.:\-]+$"
# Only what the model's plate validator would leave unchanged (upper-case, no separators).
_PLATE = PLATE_RE.pattern
# RFC 3339 with seconds and an offset; years 1000-2999, offsets under 15 h (the model's range is
# then checked on the parsed time).
_TIMESTAMP = r"^[12][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])$"


def _one_of(values: type[Any]) -> Any:
    return Literal[tuple(v.value for v in values)]


@with_config(_FORBID)
class _Location(TypedDict):
    lat: Annotated[float, Field(ge=LAT_MIN, le=LAT_MAX)]
    lon: Annotated[float, Field(ge=LON_MIN, le=LON_MAX)]
    admin_code: Annotated[str, StringConstraints(pattern=r"^37[0-9]{4}$")]
    road: NotRequired[Annotated[str, StringConstraints(max_length=64)] | None]
    km: NotRequired[Annotated[float, Field(ge=0, le=10000)] | None]


@with_config(_FORBID)
class _Measurements(TypedDict, total=False):
    speed_kmh: Annotated[float, Field(ge=0, le=400)] | None
    speed_limit_kmh: Annotated[float, Field(ge=5, le=150)] | None
    gross_weight_kg: Annotated[float, Field(gt=0, le=300_000)] | None
    weight_limit_kg: Annotated[float, Field(gt=0, le=100_000)] | None
    axles: Annotated[int, Field(ge=2, le=12)] | None
    noise_db: Annotated[float, Field(ge=30, le=160)] | None
    bac_mg_100ml: Annotated[float, Field(ge=0, le=500)] | None
    riders: Annotated[int, Field(ge=1, le=10)] | None


@with_config(_FORBID)
class _Evidence(TypedDict):
    uri: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    sha256: Annotated[str, StringConstraints(pattern=SHA256_RE.pattern)]


@with_config(_FORBID)
class _Event(TypedDict):
    event_id: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_ID)]
    device_id: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_ID)]
    device_kind: NotRequired[_one_of(DeviceKind) | None]  # type: ignore[valid-type]
    captured_at: Annotated[str, StringConstraints(pattern=_TIMESTAMP)]
    violation: _one_of(Violation)  # type: ignore[valid-type]
    plate: NotRequired[Annotated[str, StringConstraints(pattern=_PLATE)] | None]
    plate_color: NotRequired[_one_of(PlateColor) | None]  # type: ignore[valid-type]
    vehicle_class: NotRequired[_one_of(VehicleClass) | None]  # type: ignore[valid-type]
    location: _Location
    measurements: NotRequired[_Measurements | None]
    confidence: NotRequired[Annotated[float, Field(ge=0, le=1)] | None]
    evidence: NotRequired[Annotated[list[_Evidence], Field(max_length=20)]]


_MIRROR: TypeAdapter[_Event] = TypeAdapter(_Event)
_PLATELESS = frozenset(v.value for v in PLATELESS_ALLOWED)


def _read_canonical(raw: bytes) -> AcceptedEvent | None:
    """The event when it is in canonical form and valid; None when the model must decide."""
    try:
        doc: dict[str, Any] = _MIRROR.validate_json(raw)  # type: ignore[assignment]
    except ValidationError:
        return None
    # The model's cross-field rules; a breach goes to the model, which words the reason.
    text = doc["captured_at"]
    try:
        at = datetime.fromisoformat(text)
    except ValueError:  # e.g. 31 June: the model names it
        return None
    if capture_time_problem(at):
        return None
    violation = doc["violation"]
    plate = doc.get("plate")
    if plate is None and violation not in _PLATELESS:
        return None
    m = doc.get("measurements")
    if m and violation == "speeding":
        speed, limit = m.get("speed_kmh"), m.get("speed_limit_kmh")
        if speed is not None and limit is not None and speed <= limit:
            return None
    # The model's serialisation: UTC as "Z", six-digit fractions, no nulls, evidence always there.
    if "." in text or not at.utcoffset():  # else already spelt as the model would
        text = at.isoformat()
        doc["captured_at"] = text[:-6] + "Z" if text.endswith("+00:00") else text
    if None in doc.values():
        doc = {k: v for k, v in doc.items() if v is not None}
    loc = doc["location"]
    if None in loc.values():
        doc["location"] = loc = {k: v for k, v in loc.items() if v is not None}
    if m and None in m.values():
        doc["measurements"] = {k: v for k, v in m.items() if v is not None}
    if "evidence" not in doc:
        doc["evidence"] = []
    where = EventLocation(loc["lat"], loc["lon"], loc["admin_code"])
    return AcceptedEvent(doc["event_id"], doc["device_id"], violation, plate, where, orjson.dumps(doc))
