"""Vehicles with plates in the real format and colour (GA 36-2018).

Province character + issuing-office letter + 5 characters (blue small cars, yellow large vehicles,
motorcycles, trailers 挂 and learner cars 学), or + 6 characters for new-energy vehicles (gradient green
for small ones: D/F first; yellow-green for large ones: D/F last). I and O are never issued.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from qzx_common.contracts.geo import CITIES

# Issuing-office letters of the province's cities (Laiwu's S went to Jinan in 2019).
OFFICE_LETTERS: dict[str, str] = {
    "370100": "AS",
    "370200": "BU",
    "370300": "C",
    "370400": "D",
    "370500": "E",
    "370600": "FY",
    "370700": "GV",
    "370800": "H",
    "370900": "J",
    "371000": "K",
    "371100": "L",
    "371300": "Q",
    "371400": "N",
    "371500": "P",
    "371600": "M",
    "371700": "R",
}
# Neighbouring provinces' trucks and cars pass through (character, a few office letters).
VISITORS = (("冀", "ABEFGJ"), ("苏", "ABCGHN"), ("豫", "ANRQH"), ("皖", "ABCL"), ("京", "ANQ"), ("津", "ABC"))
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DIGITS = "0123456789"

# Share of each class's vehicles that run on new energy.
NEV_SHARE = {"car": 0.18, "truck": 0.03, "bus": 0.35}


@dataclass(frozen=True, slots=True)
class Vehicle:
    plate: str
    plate_color: str
    vehicle_class: str
    home_city: str  # city code whose office issued the plate (or "" for other provinces)


def _serial(rng: random.Random, length: int) -> str:
    """Mostly digits, at most two letters, as issued."""
    chars = [rng.choice(DIGITS) for _ in range(length)]
    for pos in rng.sample(range(length), k=rng.choices((0, 1, 2), weights=(6, 3, 1))[0]):
        chars[pos] = rng.choice(LETTERS)
    return "".join(chars)


def _prefix(rng: random.Random, home_city: str) -> str:
    if not home_city:
        province, letters = rng.choice(VISITORS)
        return province + rng.choice(letters)
    return "鲁" + rng.choice(OFFICE_LETTERS[home_city])


def make_vehicle(rng: random.Random, vehicle_class: str, home_city: str) -> Vehicle:
    prefix = _prefix(rng, home_city)
    nev = rng.random() < NEV_SHARE.get(vehicle_class, 0.0)
    if nev and vehicle_class == "car":
        plate, color = prefix + rng.choice("DF") + rng.choice(LETTERS + DIGITS) + _digits(rng, 4), "green"
    elif nev:
        plate, color = prefix + _digits(rng, 5) + rng.choice("DF"), "yellow-green"
    elif vehicle_class == "truck" and rng.random() < 0.15:
        plate, color = prefix + _digits(rng, 4) + "挂", "yellow"  # semi-trailer
    elif vehicle_class == "car" and rng.random() < 0.01:
        plate, color = prefix + _digits(rng, 4) + "学", "yellow"  # learner car
    elif vehicle_class == "car" or vehicle_class == "other":
        plate, color = prefix + _serial(rng, 5), "blue"
    else:  # truck, bus, hazmat, motorcycle
        plate, color = prefix + _serial(rng, 5), "yellow"
    return Vehicle(plate, color, vehicle_class, home_city)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(DIGITS) for _ in range(n))


def home_city_for(rng: random.Random, device_city: str, *, visitor_share: float) -> str:
    """Mostly local plates; some from elsewhere in the province; a share from other provinces."""
    r = rng.random()
    if r < visitor_share:
        return ""
    if r < visitor_share + 0.2:
        return rng.choice(CITIES).code
    return device_city
