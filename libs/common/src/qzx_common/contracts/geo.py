"""Province facts every service needs: city table, bounds, distances."""

from __future__ import annotations

import math
from typing import NamedTuple


class City(NamedTuple):
    code: str
    name: str
    lat: float
    lon: float


PROVINCE_CODE = "370000"
CITIES: tuple[City, ...] = (
    City("370100", "Jinan", 36.65, 117.12),
    City("370200", "Qingdao", 36.07, 120.38),
    City("370300", "Zibo", 36.81, 118.05),
    City("370400", "Zaozhuang", 34.81, 117.32),
    City("370500", "Dongying", 37.43, 118.67),
    City("370600", "Yantai", 37.46, 121.45),
    City("370700", "Weifang", 36.71, 119.16),
    City("370800", "Jining", 35.41, 116.59),
    City("370900", "Tai'an", 36.20, 117.09),
    City("371000", "Weihai", 37.51, 122.12),
    City("371100", "Rizhao", 35.42, 119.53),
    City("371300", "Linyi", 35.10, 118.36),
    City("371400", "Dezhou", 37.44, 116.36),
    City("371500", "Liaocheng", 36.46, 115.99),
    City("371600", "Binzhou", 37.38, 117.97),
    City("371700", "Heze", 35.23, 115.48),
)
CITY_BY_CODE = {c.code: c for c in CITIES}

# Shandong's extent with a small margin (mainland 34.4-38.3 N, 114.8-122.7 E; islands to 38.4 N).
LAT_MIN, LAT_MAX = 34.3, 38.5
LON_MIN, LON_MAX = 114.6, 122.8


def city_code(admin_code: str) -> str:
    return admin_code[:4] + "00"


def code_prefix(code: str) -> str:
    """The admin-code prefix a jurisdiction's code stands for: 370000 → 37, 370100 → 3701 (what
    the codes under it start with); a district's or smaller unit's code stands for itself."""
    if len(code) == 6 and code.endswith("0000"):
        return code[:2]
    if len(code) == 6 and code.endswith("00"):
        return code[:4]
    return code


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))
