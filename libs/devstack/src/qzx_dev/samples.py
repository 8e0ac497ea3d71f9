"""Well-formed sample events for tests and benchmarks (the simulator builds realistic streams)."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

_counter = itertools.count()


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
