"""Well-formed sample messages of the contract (a ViolationEvent, a VehiclePassage, an AccidentReport) for tests and
benchmarks; the dev tools' simulator builds realistic streams. Nothing in the services uses them."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

_counter = itertools.count()
CHINA = timezone(timedelta(hours=8))


def make_event(**overrides: Any) -> dict[str, Any]:
    n = next(_counter)
    at = overrides.pop("captured_at", None) or (datetime.now(UTC) - timedelta(seconds=30))
    if isinstance(at, datetime):
        at = at.astimezone(UTC).isoformat()
    device = overrides.pop("device_id", "370102-CK-0042")
    event: dict[str, Any] = {
        "event_id": overrides.pop(
            "event_id", f"{device}-{n:09d}-{hashlib.md5(str(n).encode()).hexdigest()[:6]}"
        ),
        "device_id": device,
        "device_kind": "breath_checkpoint",
        "captured_at": at,
        "violation": "drunk_driving",
        "plate": f"鲁A{n % 100000:05d}",
        "plate_color": "blue",
        "vehicle_class": "car",
        "location": {"lat": 36.651, "lon": 117.120, "admin_code": "370102", "road": "G2", "km": 412.3},
        "measurements": {"bac_mg_100ml": 92},
        "confidence": 0.97,
        "evidence": [
            {"uri": f"s3://evidence/370102/{n}.jpg", "sha256": hashlib.sha256(str(n).encode()).hexdigest()}
        ],
    }
    event.update(overrides)
    return event


def make_passage(**overrides: Any) -> dict[str, Any]:
    """A valid VehiclePassage; ``captured_at`` may be a datetime (sent in UTC+08:00, as checkpoints do)."""
    n = next(_counter)
    at = overrides.pop("captured_at", None) or (datetime.now(UTC) - timedelta(seconds=30))
    if isinstance(at, datetime):
        at = at.astimezone(CHINA).isoformat(timespec="milliseconds")
    device = overrides.pop("device_id", "370102-CK-0042")
    passage: dict[str, Any] = {
        "passage_id": overrides.pop("passage_id", f"{device}-P{n:09d}"),
        "device_id": device,
        "captured_at": at,
        "plate": f"鲁A{n % 100000:05d}",
        "plate_color": "blue",
        "vehicle_class": "car",
        "direction": "N",
        "lane": 2,
        "speed_kmh": 86,
        "location": {"lat": 36.651, "lon": 117.120, "admin_code": "370102", "road": "G2", "km": 412.3},
        "confidence": 0.98,
        "image_uri": f"s3://passages/370102/{n}.jpg",
    }
    passage.update(overrides)
    return passage


def make_accident(**overrides: Any) -> dict[str, Any]:
    """A valid AccidentReport (an injury accident in Jinan); ``occurred_at`` may be a datetime."""
    n = next(_counter)
    at = overrides.pop("occurred_at", None) or (datetime.now(UTC) - timedelta(minutes=10))
    if isinstance(at, datetime):
        at = at.astimezone(CHINA).isoformat()
    accident: dict[str, Any] = {
        "accident_id": overrides.pop("accident_id", f"370102-A-{n:09d}"),
        "occurred_at": at,
        "source": "call_centre",
        "location": {"lat": 36.651, "lon": 117.120, "admin_code": "370102", "road": "S102", "km": 12.4},
        "road_feature": "junction",
        "severity": "injury",
        "injured": 2,
        "killed": 0,
        "vehicles": [
            {"plate": f"鲁A{n % 100000:05d}", "vehicle_class": "car"},
            {"plate": None, "vehicle_class": "ebike"},
        ],
        "ebike_involved": True,
        "rural": False,
        "description": "car and e-bike at a junction",
    }
    accident.update(overrides)
    return accident
