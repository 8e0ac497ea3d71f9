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
from typing import Annotated, Any, NamedTuple, NotRequired

import orjson
from pydantic import Field, StringConstraints, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from qzx_common.contracts.canonical import (
    CANONICAL_ID,
    CANONICAL_PLATE,
    CANONICAL_TIMESTAMP,
    FORBID,
    CanonicalLocation,
    one_of,
)
from qzx_common.contracts.events import (
    PLATELESS_ALLOWED,
    SHA256_RE,
    DeviceKind,
    PlateColor,
    VehicleClass,
    Violation,
    ViolationEvent,
    capture_time_problem,
)


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
# (the spellings and the location shared with the passage reader: ``contracts.canonical``)


@with_config(FORBID)
class _Measurements(TypedDict, total=False):
    speed_kmh: Annotated[float, Field(ge=0, le=400)] | None
    speed_limit_kmh: Annotated[float, Field(ge=5, le=150)] | None
    gross_weight_kg: Annotated[float, Field(gt=0, le=300_000)] | None
    weight_limit_kg: Annotated[float, Field(gt=0, le=100_000)] | None
    axles: Annotated[int, Field(ge=2, le=12)] | None
    noise_db: Annotated[float, Field(ge=30, le=160)] | None
    bac_mg_100ml: Annotated[float, Field(ge=0, le=500)] | None
    riders: Annotated[int, Field(ge=1, le=10)] | None


@with_config(FORBID)
class _Evidence(TypedDict):
    uri: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    sha256: Annotated[str, StringConstraints(pattern=SHA256_RE.pattern)]


@with_config(FORBID)
class _Event(TypedDict):
    event_id: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=CANONICAL_ID)]
    device_id: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=CANONICAL_ID)]
    device_kind: NotRequired[one_of(DeviceKind) | None]  # type: ignore[valid-type]
    captured_at: Annotated[str, StringConstraints(pattern=CANONICAL_TIMESTAMP)]
    violation: one_of(Violation)  # type: ignore[valid-type]
    plate: NotRequired[Annotated[str, StringConstraints(pattern=CANONICAL_PLATE)] | None]
    plate_color: NotRequired[one_of(PlateColor) | None]  # type: ignore[valid-type]
    vehicle_class: NotRequired[one_of(VehicleClass) | None]  # type: ignore[valid-type]
    location: CanonicalLocation
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
