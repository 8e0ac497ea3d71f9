"""The province's cities and camera catalogue for the console map (the contract's tables, plus the
cities' Chinese names)."""

from __future__ import annotations

from qzx_common.contracts.devices import DEVICES
from qzx_common.contracts.geo import CITIES, LAT_MAX, LAT_MIN, LON_MAX, LON_MIN, PROVINCE_CODE

NAMES_ZH = {
    "370100": "济南",
    "370200": "青岛",
    "370300": "淄博",
    "370400": "枣庄",
    "370500": "东营",
    "370600": "烟台",
    "370700": "潍坊",
    "370800": "济宁",
    "370900": "泰安",
    "371000": "威海",
    "371100": "日照",
    "371300": "临沂",
    "371400": "德州",
    "371500": "聊城",
    "371600": "滨州",
    "371700": "菏泽",
}


def cities_payload() -> dict[str, object]:
    return {
        "province": {"code": PROVINCE_CODE, "name": "Shandong", "name_zh": "山东"},
        "bounds": {"lat_min": LAT_MIN, "lat_max": LAT_MAX, "lon_min": LON_MIN, "lon_max": LON_MAX},
        "items": [
            {
                "code": c.code,
                "name": c.name,
                "name_zh": NAMES_ZH.get(c.code, c.name),
                "lat": c.lat,
                "lon": c.lon,
            }
            for c in CITIES
        ],
    }


def devices_payload() -> dict[str, object]:
    return {
        "items": [
            {
                "device_id": d.device_id,
                "kind": d.kind,
                "lat": d.lat,
                "lon": d.lon,
                "admin_code": d.admin_code,
                "road": d.road,
                "km": d.km,
            }
            for d in DEVICES
        ]
    }
