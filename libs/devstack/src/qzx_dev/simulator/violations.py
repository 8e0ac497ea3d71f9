"""What each violation looks like: the device that sees it, the vehicles that commit it, and
measurements that fit (Chinese thresholds: BAC 20-80 drink / 80+ drunk driving; speeding graded
under 20 %, 20-50 %, 50 %+ over the limit; trucks more than 30 % over their legal gross weight,
six-axle "hundred-ton kings" at 100 t and more; modified exhausts at 95-115 dB)."""

from __future__ import annotations

import random
from typing import Any

DEVICE_KIND: dict[str, str] = {
    "drunk_driving": "breath_checkpoint",
    "overload": "weigh_in_motion",
    "street_racing": "speed_camera",
    "noise_modified": "noise_camera",
    "speeding": "speed_camera",
    "red_light": "checkpoint",
    "wrong_way": "checkpoint",
    "fake_plate": "checkpoint",
    "no_plate": "checkpoint",
    "ebike_red_light": "ebike_camera",
    "ebike_wrong_way": "ebike_camera",
    "ebike_overload": "ebike_camera",
}

# Vehicle classes (and weights) that commit each plate-bearing violation.
VEHICLE_CLASSES: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "drunk_driving": (("car", "motorcycle", "truck", "bus", "other"), (85, 7, 5, 1, 2)),
    "overload": (("truck", "hazmat"), (95, 5)),
    "street_racing": (("car", "motorcycle"), (80, 20)),
    "noise_modified": (("car", "motorcycle"), (60, 40)),
    "speeding": (("car", "truck", "bus", "motorcycle", "hazmat"), (75, 15, 5, 3, 2)),
    "red_light": (("car", "truck", "bus", "motorcycle"), (75, 10, 5, 10)),
    "wrong_way": (("car", "motorcycle", "truck"), (70, 20, 10)),
    "fake_plate": (("car", "truck", "other"), (60, 35, 5)),
    "no_plate": (("car", "truck", "motorcycle"), (50, 30, 20)),
}
EBIKE = frozenset({"ebike_red_light", "ebike_wrong_way", "ebike_overload"})
PLATELESS = EBIKE | {"no_plate"}

# Legal gross weight by axle count (GB 1589-2016), kg.
AXLE_LIMIT_KG = {2: 18_000, 3: 25_000, 4: 31_000, 5: 43_000, 6: 49_000}
SPEED_LIMITS = (60, 80, 100, 120)


def speed_limit_at(device_id: str) -> int:
    """A fixed limit per device (a camera's limit does not change between events)."""
    return SPEED_LIMITS[sum(device_id.encode()) % len(SPEED_LIMITS)]


def vehicle_class_for(rng: random.Random, violation: str) -> str:
    if violation in EBIKE:
        return "ebike"
    classes, weights = VEHICLE_CLASSES[violation]
    return rng.choices(classes, weights)[0]


def measurements_for(rng: random.Random, violation: str, device_id: str) -> dict[str, Any] | None:
    builder = _BUILDERS.get(violation)
    return builder(rng, device_id) if builder else None


def _bac(rng: random.Random, _: str) -> dict[str, Any]:
    drink = rng.random() < 0.65  # drink driving mostly just over the line; drunk with a long tail
    bac = 20 + rng.triangular(0, 60, 10) if drink else 80 + rng.triangular(0, 170, 20)
    return {"bac_mg_100ml": round(bac, 1)}


def _speeding(rng: random.Random, device_id: str) -> dict[str, Any]:
    limit = speed_limit_at(device_id)
    grade = rng.choices(((0.02, 0.2), (0.2, 0.5), (0.5, 0.9)), weights=(60, 30, 10))[0]
    over = rng.uniform(*grade)
    return {"speed_kmh": round(limit * (1 + over), 1), "speed_limit_kmh": limit}


def _overload(rng: random.Random, _: str) -> dict[str, Any]:
    if rng.random() < 0.12:  # a "hundred-ton king": six axles, 100 t and more
        axles, gross = 6, rng.uniform(100_000, 145_000)
    else:
        axles = rng.choices((2, 3, 4, 5, 6), weights=(10, 10, 15, 15, 50))[0]
        gross = AXLE_LIMIT_KG[axles] * rng.uniform(1.31, 1.95)
    return {
        "gross_weight_kg": round(gross, -1),
        "weight_limit_kg": AXLE_LIMIT_KG[axles],
        "axles": axles,
        "speed_kmh": round(rng.uniform(40, 85), 1),
    }


def _racing(rng: random.Random, device_id: str) -> dict[str, Any]:
    limit = speed_limit_at(device_id)
    return {
        "speed_kmh": round(min(limit * rng.uniform(1.3, 2.2), 260), 1),
        "speed_limit_kmh": limit,
        "noise_db": round(rng.uniform(92, 112), 1),
    }


def _noise(rng: random.Random, _: str) -> dict[str, Any]:
    return {"noise_db": round(rng.uniform(95, 115), 1)}


def _ebike_riders(rng: random.Random, _: str) -> dict[str, Any]:
    return {"riders": rng.choices((3, 4, 5), weights=(60, 30, 10))[0]}


def _ebike_plain(rng: random.Random, _: str) -> dict[str, Any]:
    return {"riders": rng.choices((1, 2), weights=(80, 20))[0]}


_BUILDERS = {
    "drunk_driving": _bac,
    "speeding": _speeding,
    "overload": _overload,
    "street_racing": _racing,
    "noise_modified": _noise,
    "ebike_overload": _ebike_riders,
    "ebike_red_light": _ebike_plain,
    "ebike_wrong_way": _ebike_plain,
}
