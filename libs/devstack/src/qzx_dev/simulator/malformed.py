"""Malformed camera messages, one kind per reject reason the ingest service must give.

Each corruption takes a valid event (as a dict) and returns the bytes to send plus the text that
the reject reason has to contain (the field it names), so tests can check the reason.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import orjson

Event = dict[str, Any]
Corruption = Callable[[random.Random, Event, datetime], tuple[bytes, str]]


def _dump(event: Event) -> bytes:
    return orjson.dumps(event)


def malformed_json(rng: random.Random, event: Event, _: datetime) -> tuple[bytes, str]:
    text = _dump(event).decode()  # cut on a character, never inside a UTF-8 sequence
    return text[: rng.randint(20, len(text) - 2)].encode(), "malformed JSON"


def not_an_object(rng: random.Random, event: Event, _: datetime) -> tuple[bytes, str]:
    return orjson.dumps([event["event_id"], event["device_id"]]), "body"


def missing_field(rng: random.Random, event: Event, _: datetime) -> tuple[bytes, str]:
    name = rng.choice(("event_id", "device_id", "captured_at", "violation", "location"))
    del event[name]
    return _dump(event), name


def wrong_type(rng: random.Random, event: Event, _: datetime) -> tuple[bytes, str]:
    field, value = rng.choice((("location.lat", "north"), ("confidence", "high"), ("location.km", [1])))
    if field == "confidence":
        event["confidence"] = value
    else:
        event["location"][field.split(".")[1]] = value
    return _dump(event), field


def unknown_violation(rng: random.Random, event: Event, _: datetime) -> tuple[bytes, str]:
    event["violation"] = rng.choice(("jaywalking", "parking", "DRUNK"))
    return _dump(event), "violation"


def unknown_device_kind(rng: random.Random, event: Event, _: datetime) -> tuple[bytes, str]:
    event["device_kind"] = rng.choice(("radar_gun", "drone", "helicopter"))
    return _dump(event), "device_kind"


def bad_plate(rng: random.Random, event: Event, _: datetime) -> tuple[bytes, str]:
    # I and O are never issued; a plate needs the province character; 4 characters are too few.
    event["plate"] = rng.choice(("鲁I12345", "鲁AO1234", "AB12345", "鲁A1234", "鲁A1234567"))
    return _dump(event), "plate"


def plate_missing(rng: random.Random, event: Event, _: datetime) -> tuple[bytes, str]:
    event.update(violation=rng.choice(("red_light", "wrong_way", "drunk_driving")), plate=None)
    event.pop("measurements", None)
    return _dump(event), "plate"


def outside_province(rng: random.Random, event: Event, _: datetime) -> tuple[bytes, str]:
    # Beijing (latitude too far north) or Zhengzhou (longitude too far west).
    if rng.random() < 0.5:
        event["location"].update(lat=39.904, lon=116.407)
        return _dump(event), "location.lat"
    event["location"].update(lat=35.5, lon=113.62)
    return _dump(event), "location.lon"


def admin_code_outside(rng: random.Random, event: Event, _: datetime) -> tuple[bytes, str]:
    event["location"]["admin_code"] = rng.choice(("110101", "320102", "3701"))
    return _dump(event), "location.admin_code"


def naive_timestamp(rng: random.Random, event: Event, now: datetime) -> tuple[bytes, str]:
    event["captured_at"] = now.replace(tzinfo=None).isoformat(timespec="seconds")
    return _dump(event), "captured_at"


def future_timestamp(rng: random.Random, event: Event, now: datetime) -> tuple[bytes, str]:
    # Relative to real time: a simulated clock may lag it, and the check is against the wall clock.
    future = datetime.now(now.tzinfo) + timedelta(minutes=rng.uniform(15, 600))
    event["captured_at"] = future.isoformat(timespec="seconds")
    return _dump(event), "captured_at"


def impossible_measurement(rng: random.Random, event: Event, _: datetime) -> tuple[bytes, str]:
    field, value = rng.choice(
        (
            ("gross_weight_kg", -rng.randint(1_000, 40_000)),
            ("bac_mg_100ml", rng.randint(501, 990)),
            ("speed_kmh", rng.randint(401, 900)),
            ("noise_db", rng.randint(161, 300)),
            ("riders", rng.randint(11, 30)),
        )
    )
    event["measurements"] = {field: value}
    return _dump(event), f"measurements.{field}"


def speed_not_over_limit(rng: random.Random, event: Event, _: datetime) -> tuple[bytes, str]:
    limit = rng.choice((60, 80, 100, 120))
    event.update(violation="speeding", device_kind="speed_camera")
    event["measurements"] = {"speed_kmh": limit - rng.randint(0, 20), "speed_limit_kmh": limit}
    if not event.get("plate"):
        event.update(plate="鲁A12345", plate_color="blue", vehicle_class="car")
    return _dump(event), "measurements.speed_kmh"


def bad_evidence_hash(rng: random.Random, event: Event, _: datetime) -> tuple[bytes, str]:
    digest = rng.choice(("not-a-hash", "ABCDEF" * 10 + "ABCD", "0" * 63))
    event["evidence"] = [{"uri": f"s3://evidence/{event['event_id']}.jpg", "sha256": digest}]
    return _dump(event), "evidence.0.sha256"


def unknown_field(rng: random.Random, event: Event, _: datetime) -> tuple[bytes, str]:
    name = rng.choice(("colour", "driver_name", "lane"))
    event[name] = "x"
    return _dump(event), name


CORRUPTIONS: dict[str, Corruption] = {
    "malformed_json": malformed_json,
    "not_an_object": not_an_object,
    "missing_field": missing_field,
    "wrong_type": wrong_type,
    "unknown_violation": unknown_violation,
    "unknown_device_kind": unknown_device_kind,
    "bad_plate": bad_plate,
    "plate_missing": plate_missing,
    "outside_province": outside_province,
    "admin_code_outside": admin_code_outside,
    "naive_timestamp": naive_timestamp,
    "future_timestamp": future_timestamp,
    "impossible_measurement": impossible_measurement,
    "speed_not_over_limit": speed_not_over_limit,
    "bad_evidence_hash": bad_evidence_hash,
    "unknown_field": unknown_field,
}
