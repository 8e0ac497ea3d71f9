"""The cities' land areas behind the hazard check (contracts.areas)."""

from __future__ import annotations

import pytest

from qzx_common.contracts.areas import city_areas, city_at, lies_in
from qzx_common.contracts.geo import CITIES


def test_every_city_has_an_area_holding_its_centre() -> None:
    assert set(city_areas()) == {c.code for c in CITIES}
    for c in CITIES:
        assert lies_in(c.code, c.lat, c.lon) and city_at(c.lat, c.lon) == c.code, c.name


@pytest.mark.parametrize(
    ("admin_code", "lat", "lon", "inside"),
    [
        ("370102", 36.651, 117.120, True),  # Jinan, Lixia
        ("370102", 36.070, 120.380, False),  # Qingdao's centre named as Jinan
        ("370202", 36.651, 117.120, False),
        ("370202", 36.150, 120.260, True),  # Jiaozhou Bay (bridge): off the land, nearest Qingdao
        ("370102", 36.150, 120.260, False),
        ("371002", 37.516, 122.135, True),  # Weihai
        ("379900", 36.651, 117.120, False),  # no such city
    ],
)
def test_a_point_lies_in_its_admin_codes_city(admin_code: str, lat: float, lon: float, inside: bool) -> None:
    assert lies_in(admin_code, lat, lon) is inside
