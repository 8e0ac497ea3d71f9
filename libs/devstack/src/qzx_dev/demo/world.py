"""The demo world of `make run` (``QZX_DEMO_DATA=1``): dev tooling, seeded through the services'
public APIs (``qzx_dev.demo.seed``); the services themselves hold only reference data.

Every city has units on duty around the clock: four staggered 12-hour start groups (02:00, 08:00,
14:00, 20:00), each with a breathalyser car, a weighing car and a pursuit motorcycle crewed by a
sworn officer and a bound auxiliary; two auxiliary-only e-bike units on 07:00/19:00 shifts; and a
checkpoint post with two sworn officers. Rosters cover yesterday, today and tomorrow (so the small
hours of today are covered too) and are topped up as days pass. A few hazard points at real device
positions and hotlist entries complete it. Fixed ids and names, so seeding again changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from qzx_common.contracts.devices import DEVICES
from qzx_common.contracts.geo import CITIES, City
from qzx_dispatch.clock import local_midnight

GROUP_STARTS = (2, 8, 14, 20)
GROUP_KITS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("car", ("breathalyser", "interception", "pursuit")),
    ("car", ("weighing", "breathalyser", "interception")),
    ("motorcycle", ("pursuit", "interception", "ebike")),
)
AUX_STARTS = (7, 19)
SHIFT_HOURS = 12

HAZARDS = (
    # (device index in the catalogue, name, radius m, risk, stock|new)
    (2, "Jinan G2 junction with level crossing", 400, "high", "stock"),
    (9, "Jinan rural road market", 300, "medium", "new"),
    (30, "Qingdao school gate crossing", 250, "high", "new"),
    (60, "Zibo long downhill section", 800, "medium", "stock"),
    (120, "Weifang accident-prone bend", 500, "low", "stock"),
)
# The road feature an accident at each hazard point has (the simulator's accidents cluster there).
HAZARD_FEATURES = {
    "Jinan G2 junction with level crossing": "level_crossing",
    "Jinan rural road market": "road_market",
    "Qingdao school gate crossing": "school_zone",
    "Zibo long downhill section": "curve",
    "Weifang accident-prone bend": "curve",
}
HOTLIST = (
    # (plate, priority, reason, covert, owner)
    ("鲁A9Z001", "P1", "vehicle used in a hit-and-run", False, "370100"),
    ("鲁B7X552", "P2", "unpaid serious overload penalties", False, "370200"),
    ("鲁C3K808", "P1", "surveillance target", True, "370000"),
)


def _around(city_lat: float, city_lon: float, k: int, n: int, km: float) -> tuple[float, float]:
    angle = 2 * math.pi * k / n
    return (
        round(city_lat + km / 111.0 * math.cos(angle), 5),
        round(city_lon + km / (111.0 * math.cos(math.radians(city_lat))) * math.sin(angle), 5),
    )


Shift = tuple[str, int, list[str]]


@dataclass
class _DemoCity:
    """One city's demo organisation, built up row by row."""

    city: City
    officers: list[dict[str, Any]] = field(default_factory=list)
    units: list[dict[str, Any]] = field(default_factory=list)
    members: list[dict[str, Any]] = field(default_factory=list)
    shifts: list[Shift] = field(default_factory=list)

    def officer(
        self, kind: str, admin: str, bound_to: str | None = None, skills: tuple[str, ...] = ()
    ) -> str:
        ident = f"O{self.city.code}-{len(self.officers) + 1:03d}"
        self.officers.append(
            {
                "id": ident,
                "name": f"{self.city.name} {kind} {len(self.officers) + 1}",
                "kind": kind,
                "admin_code": admin,
                "skills": list(skills),
                "bound_to": bound_to,
                "active": True,
            }
        )
        return ident

    def unit(
        self,
        vehicle: str,
        caps: tuple[str, ...],
        admin: str,
        crew: list[str],
        starts: tuple[int, ...],
        home: tuple[float, float] | None = None,
        call_sign: str | None = None,
    ) -> None:
        n = len(self.units) + 1
        ident = f"U{self.city.code}-{n:02d}"
        lat, lon = home or _around(self.city.lat, self.city.lon, n, 16, 2.0 + (n % 3) * 3.0)
        self.units.append(
            {
                "id": ident,
                "call_sign": call_sign or f"{self.city.name} {n:02d}",
                "admin_code": admin,
                "city_code": self.city.code,
                "vehicle": vehicle,
                "capabilities": list(caps),
                "home_lat": lat,
                "home_lon": lon,
                "status": "available",
                "change_seq": 0,
            }
        )
        self.members.extend({"unit_id": ident, "officer_id": o} for o in crew)
        self.shifts.extend((ident, hour, crew) for hour in starts)

    def build(self) -> _DemoCity:
        c = self.city.code
        for start in GROUP_STARTS:
            for vehicle, caps in GROUP_KITS:
                admin = f"{c[:4]}{(len(self.units) + 1) % 4 + 2:02d}"
                sworn = self.officer("sworn", admin, skills=caps)
                self.unit(
                    vehicle, caps, admin, [sworn, self.officer("auxiliary", admin, bound_to=sworn)], (start,)
                )
        lead = self.officers[0]["id"]
        for start in AUX_STARTS:
            admin = f"{c[:4]}02"
            crew = [self.officer("auxiliary", admin, bound_to=lead) for _ in range(2)]
            self.unit("motorcycle", ("ebike",), admin, crew, (start,))
        post = next(d for d in DEVICES if d.admin_code.startswith(c[:4]) and d.kind == "checkpoint")
        day, night = self.officer("sworn", post.admin_code), self.officer("sworn", post.admin_code)
        self.unit(
            "checkpoint_post",
            ("breathalyser", "weighing", "interception"),
            post.admin_code,
            [day, night],
            (),
            home=(post.lat, post.lon),
            call_sign=f"{self.city.name} post {post.device_id}",
        )
        post_id = self.units[-1]["id"]
        self.shifts += [(post_id, 0, [day]), (post_id, 12, [night])]
        return self


def demo_organisation() -> list[_DemoCity]:
    return [_DemoCity(city).build() for city in CITIES]


def demo_rosters(shifts: list[Shift], days: list[date]) -> list[dict[str, Any]]:
    rows = []
    for day in days:
        midnight = local_midnight(day)
        for unit_id, hour, crew in shifts:
            starts = midnight + timedelta(hours=hour)
            rows.append(
                {
                    "unit_id": unit_id,
                    "shift_date": day,
                    "starts_at": starts,
                    "ends_at": starts + timedelta(hours=SHIFT_HOURS),
                    "crew": crew,
                }
            )
    return rows
