"""read_event answers exactly as the ViolationEvent model does: same accepted inputs, same normalised
JSON, same reject reasons. Checked with a seeded mutation fuzz that
aims at every constraint's boundary, every optional field's null and the spellings the fast path
leaves to the model (the simulator's stream: libs/devstack/tests/test_simulator.py)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import annotated_types
import orjson
import pytest
from pydantic import BaseModel, ValidationError

from qzx_common.contracts.events import Location, Measurements, ViolationEvent, describe_error
from qzx_common.contracts.samples import make_event
from qzx_ingest.violations.reader import read_event


def by_model(raw: bytes) -> tuple[str, Any]:
    try:
        event = ViolationEvent.model_validate_json(raw)
    except ValidationError as exc:
        return "rejected", describe_error(exc)
    loc = event.location
    fields = (
        event.event_id,
        event.device_id,
        event.violation.value,
        event.plate,
        loc.admin_code,
        loc.lat,
        loc.lon,
    )
    return "accepted", (fields, event.model_dump_json(exclude_none=True).encode())


def by_reader(raw: bytes) -> tuple[str, Any]:
    try:
        e = read_event(raw)
    except ValidationError as exc:
        return "rejected", describe_error(exc)
    fields = (
        e.event_id,
        e.device_id,
        e.violation,
        e.plate,
        e.location.admin_code,
        e.location.lat,
        e.location.lon,
    )
    return "accepted", (fields, e.payload)


def assert_same(raw: bytes) -> None:
    assert by_reader(raw) == by_model(raw), raw


def _bounds(model: type[BaseModel]) -> list[tuple[str, float, bool]]:
    """(field, bound, is_integer) for every numeric bound the model declares."""
    out = []
    for name, info in model.model_fields.items():
        integer = "int" in str(info.annotation)
        for meta in info.metadata:
            for attr in ("ge", "gt", "le", "lt"):
                if isinstance(meta, getattr(annotated_types, attr.capitalize())):
                    out.append((name, float(getattr(meta, attr)), integer))
    return out


NUMERIC = (
    [("location", n, b, i) for n, b, i in _bounds(Location)]
    + [("measurements", n, b, i) for n, b, i in _bounds(Measurements)]
    + [(None, n, b, i) for n, b, i in _bounds(ViolationEvent)]
)
assert len(NUMERIC) >= 20  # lat, lon, km, every measurement, confidence


def _near(bound: float, integer: bool, rng: random.Random) -> Any:
    step = 1 if integer else rng.choice((1e-9, 0.5, 1e-3))
    value = rng.choice((bound - step, bound, bound + step))
    spelling = rng.random()
    if spelling < 0.15:
        return str(value)  # numbers in strings: the model's lax mode takes them
    if spelling < 0.3 and value == int(value):
        return int(value) if not integer else float(value)  # 120 for a float field, 6.0 for an int one
    return value


def _timestamp(rng: random.Random) -> Any:
    now = datetime.now(UTC)
    at = now + timedelta(minutes=rng.choice((-600, -1, 4, 6, 60)), microseconds=rng.choice((0, 5, 500000)))
    return rng.choice(
        (
            at.isoformat(),
            at.astimezone(timedelta_zone(8)).isoformat(),
            at.astimezone(timedelta_zone(-5)).isoformat(timespec="milliseconds"),
            at.isoformat().replace("+00:00", "Z"),
            at.isoformat().replace("+00:00", "-00:00"),
            at.strftime("%Y-%m-%d %H:%M:%S+08:00"),
            at.strftime("%Y-%m-%dT%H:%M:%S"),
            at.strftime("%Y-%m-%dt%H:%M:%Sz"),
            at.strftime("%Y-%m-%dT%H:%M:%S.123456789+08:00"),
            "2026-06-31T10:00:00+08:00",
            "2026-11-28T24:00:00+08:00",
            "2026-11-28T10:00:00+24:00",
            int(at.timestamp()),
            None,
        )
    )


def timedelta_zone(hours: int) -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=hours))


def _part(event: dict[str, Any], key: str | None) -> dict[str, Any]:
    """``event`` itself, or its ``key`` sub-object (made a dict again if a mutation broke it)."""
    if key is None:
        return event
    if not isinstance(event.get(key), dict):
        event[key] = {"lat": 36.6, "lon": 117.1, "admin_code": "370102"} if key == "location" else {}
    return event[key]  # type: ignore[no-any-return]


def _mutate(event: dict[str, Any], rng: random.Random) -> None:
    kind = rng.randrange(12)
    if kind == 0:
        where, name, bound, integer = rng.choice(NUMERIC)
        _part(event, where)[name] = _near(bound, integer, rng)
    elif kind == 1:
        event["captured_at"] = _timestamp(rng)
    elif kind == 2:
        event["plate"] = rng.choice(
            (
                "鲁a12345",
                " 鲁B·D12345 ",
                "鲁A-12345",
                "",
                "  ",
                "鲁A12345\n",
                "鲁I12345",
                "鲁A1234学",
                "AB12345",
                None,
                5,
            )
        )
    elif kind == 3:
        key = rng.choice(("event_id", "device_id"))
        event[key] = rng.choice(("é-1", "٣-1", "a b", "x" * 129, "x" * 65, "", "ok.id:1_2-3", "a\n", 7))
    elif kind == 4:
        key = rng.choice(("device_kind", "plate_color", "vehicle_class", "violation"))
        event[key] = rng.choice((None, "DRUNK", "speeding", "yellow-green", "ebike", "speed_camera", 1))
    elif kind == 5:
        key = rng.choice(
            ("device_kind", "plate_color", "vehicle_class", "measurements", "confidence", "evidence")
        )
        event[key] = None
    elif kind == 6:
        event.pop(rng.choice(list(event)))
    elif kind == 7:
        target = _part(event, rng.choice((None, "location", "measurements")))
        target[rng.choice(("extra", "speed", "lat"))] = 1
    elif kind == 8:
        event["location"] = rng.choice(
            (
                {
                    "lat": 36.6,
                    "lon": 117.1,
                    "admin_code": rng.choice(("370102", "37010", "3701020", "٣70102")),
                },
                {
                    "lat": 36.6,
                    "lon": 117.1,
                    "admin_code": "370102",
                    "road": rng.choice((None, "G2", "x" * 65)),
                },
                "370102",
                None,
            )
        )
    elif kind == 9:
        event["evidence"] = rng.choice(
            (
                [],
                [{"uri": "s3://x", "sha256": "a" * 64}] * 21,
                [{"uri": "", "sha256": "a" * 64}],
                [{"uri": "s3://x", "sha256": "A" * 64}],
                [{"uri": "s3://x"}],
                [{"uri": "s3://x", "sha256": "a" * 64, "size": 1}],
                {"uri": "s3://x", "sha256": "a" * 64},
            )
        )
    elif kind == 10:
        event["violation"] = "speeding"
        event["measurements"] = {
            "speed_kmh": rng.choice((80, 100, 100.0, 120.5)),
            "speed_limit_kmh": rng.choice((100, 100.0, None)),
        }
    else:
        event["violation"] = rng.choice(("no_plate", "ebike_red_light", "drunk_driving"))
        event["plate"] = rng.choice((None, "", "鲁A12345"))


def test_mutated_events_read_the_same() -> None:
    rng = random.Random(2026)
    for _ in range(4000):
        event = make_event()
        for _ in range(rng.choice((1, 1, 2, 3))):
            _mutate(event, rng)
        assert_same(orjson.dumps(event))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"event_id":"a","event_id":"b","device_id":"d","captured_at":"2026-01-01T00:00:00Z",'
        b'"violation":"no_plate","location":{"lat":36,"lon":117,"admin_code":"370102"}}',
        b"{not json",
        b"[1, 2]",
        b"null",
        b'"text"',
        b"\xff\xfe",
        b'{"event_id": "\\ud800"}',
        b'{"location": {"lat": 1e400}}',
    ],
)
def test_odd_bytes_read_the_same(raw: bytes) -> None:
    assert_same(raw)
