"""read_passage answers exactly as the VehiclePassage model does: same accepted inputs, same stored
values, same reject reasons; checked over a seeded mutation fuzz that aims at every bound, every
optional field's null and the spellings the fast path leaves to the model."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import annotated_types
import orjson
import pytest
from pydantic import BaseModel, ValidationError

from qzx_common.contracts import passage_reader
from qzx_common.contracts.events import Location, describe_error
from qzx_common.contracts.passage_reader import read_passage
from qzx_common.contracts.passages import VehiclePassage
from qzx_common.contracts.samples import make_passage


def by_model(raw: bytes) -> tuple[str, Any]:
    try:
        return "accepted", passage_reader._read_with_model(raw)
    except ValidationError as exc:
        return "rejected", describe_error(exc)


def by_reader(raw: bytes) -> tuple[str, Any]:
    try:
        return "accepted", read_passage(raw)
    except ValidationError as exc:
        return "rejected", describe_error(exc)


def assert_same(raw: bytes) -> None:
    assert by_reader(raw) == by_model(raw), raw


def test_a_canonical_passage_takes_the_fast_path() -> None:
    raw = orjson.dumps(make_passage())
    row = passage_reader._read_canonical(raw)
    assert row is not None
    assert row == passage_reader._read_with_model(raw)
    assert row.plate == "鲁A" + row.plate[2:] and row.direction == "N"


def _bounds(model: type[BaseModel]) -> list[tuple[str, float, bool]]:
    out = []
    for name, info in model.model_fields.items():
        integer = "int" in str(info.annotation)
        for meta in info.metadata:
            for attr in ("ge", "gt", "le", "lt"):
                if isinstance(meta, getattr(annotated_types, attr.capitalize())):
                    out.append((name, float(getattr(meta, attr)), integer))
    return out


NUMERIC = [("location", n, b, i) for n, b, i in _bounds(Location)] + [
    (None, n, b, i) for n, b, i in _bounds(VehiclePassage)
]
assert len(NUMERIC) >= 10  # lat, lon, km, lane, speed, confidence


def _near(bound: float, integer: bool, rng: random.Random) -> Any:
    step = 1 if integer else rng.choice((1e-9, 0.5, 1e-3))
    value = rng.choice((bound - step, bound, bound + step))
    if rng.random() < 0.15:
        return str(value)
    if rng.random() < 0.3 and value == int(value):
        return int(value) if not integer else float(value)
    return value


def _timestamp(rng: random.Random) -> Any:
    at = datetime.now(UTC) + timedelta(
        minutes=rng.choice((-600, -1, 4, 6, 60)), microseconds=rng.choice((0, 5, 500000))
    )
    return rng.choice(
        (
            at.isoformat(),
            at.astimezone(timezone(timedelta(hours=8))).isoformat(timespec="milliseconds"),
            at.astimezone(timezone(timedelta(hours=-12))).isoformat(),
            at.astimezone(timezone(timedelta(hours=14))).isoformat(),
            at.isoformat().replace("+00:00", "Z"),
            at.strftime("%Y-%m-%dT%H:%M:%S+14:30"),
            at.strftime("%Y-%m-%dT%H:%M:%S-12:30"),
            at.strftime("%Y-%m-%dT%H:%M:%S"),
            at.strftime("%Y-%m-%dT%H:%M:%S.123456789+08:00"),
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:00:00Z",
            "2026-06-31T10:00:00+08:00",
            "2026-11-28T10:00:00+16:00",
            int(at.timestamp()),
            None,
        )
    )


def _part(passage: dict[str, Any], key: str | None) -> dict[str, Any]:
    if key is None:
        return passage
    if not isinstance(passage.get(key), dict):
        passage[key] = {"lat": 36.6, "lon": 117.1, "admin_code": "370102"}
    return passage[key]  # type: ignore[no-any-return]


def _mutate(p: dict[str, Any], rng: random.Random) -> None:
    kind = rng.randrange(10)
    if kind == 0:
        where, name, bound, integer = rng.choice(NUMERIC)
        _part(p, where)[name] = _near(bound, integer, rng)
    elif kind == 1:
        p["captured_at"] = _timestamp(rng)
    elif kind == 2:
        p["plate"] = rng.choice(("鲁a12345", " 鲁B·D12345 ", "鲁A-12345", "", "鲁I12345", "AB12345", None, 5))
    elif kind == 3:
        key = rng.choice(("passage_id", "device_id"))
        p[key] = rng.choice(("é-1", "٣-1", "a b", "x" * 129, "x" * 65, "", "ok.id:1_2-3", "a\n", 7))
    elif kind == 4:
        key = rng.choice(("plate_color", "vehicle_class", "direction"))
        p[key] = rng.choice((None, "BLUE", "yellow-green", "ebike", "NE", "north", "inbound", 1))
    elif kind == 5:
        key = rng.choice(("plate_color", "vehicle_class", "direction", "lane", "speed_kmh", "image_uri"))
        p[key] = None
    elif kind == 6:
        p.pop(rng.choice(list(p)))
    elif kind == 7:
        _part(p, rng.choice((None, "location")))[rng.choice(("extra", "speed", "lat"))] = 1
    elif kind == 8:
        p["image_uri"] = rng.choice(("", "x" * 1024, "x" * 1025, 3))
    else:
        p["plate"] = None
        p["plate_color"] = rng.choice((None, "blue"))


def test_mutated_passages_read_the_same() -> None:
    rng = random.Random(2027)
    outcomes = set()
    for _ in range(4000):
        p = make_passage()
        for _ in range(rng.choice((1, 1, 2, 3))):
            _mutate(p, rng)
        raw = orjson.dumps(p)
        assert_same(raw)
        outcomes.add(by_model(raw)[0])
    assert outcomes == {"accepted", "rejected"}


@pytest.mark.parametrize(
    ("passage", "reason"),
    [
        (make_passage(location={"lat": 50, "lon": 117.1, "admin_code": "370102"}), "location.lat"),
        (make_passage(plate="XYZ"), "plate:"),
        (make_passage(lane=0), "lane:"),
        (make_passage(speed_kmh=401), "speed_kmh:"),
        (make_passage(direction="up"), "direction:"),
        (make_passage(plate=None, plate_color=None), None),
        (make_passage(plate=None, plate_color="blue"), "plate_color: given without a plate"),
        (make_passage(captured_at="2026-11-28T20:15:02+16:00"), "captured_at:"),
        (
            make_passage(captured_at=datetime.now(UTC) + timedelta(hours=1)),
            "captured_at: more than 5 minutes",
        ),
        (make_passage(passage_id="a b"), "passage_id: may contain only"),
        (make_passage(colour="blue"), "colour: unknown field"),
    ],
)
def test_reasons_name_the_field(passage: dict[str, Any], reason: str | None) -> None:
    outcome, value = by_reader(orjson.dumps(passage))
    if reason is None:
        assert outcome == "accepted" and value.plate is None
    else:
        assert outcome == "rejected" and reason in value, value
