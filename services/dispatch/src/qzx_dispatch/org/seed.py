"""Reference jurisdictions (always) and the demo organisation (``QZX_DEMO_DATA=1``), idempotent.

The demo gives every city units on duty around the clock: four staggered 12-hour start groups
(02:00, 08:00, 14:00, 20:00), each with a breathalyser car, a weighing car and a pursuit
motorcycle crewed by a sworn officer and a bound auxiliary; two auxiliary-only e-bike units on
07:00/19:00 shifts; and a checkpoint post with two sworn officers. Rosters cover yesterday, today
and tomorrow (so the small hours of today are covered too) and are topped up as days pass.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qzx_common.contracts.devices import DEVICES
from qzx_common.contracts.geo import CITIES, PROVINCE_CODE, City
from qzx_common.db import transaction
from qzx_dispatch.clock import Clock, local_date, local_midnight
from qzx_dispatch.org.models import Jurisdiction, Officer, Roster, Unit, UnitMember

log = logging.getLogger(__name__)

GROUP_STARTS = (2, 8, 14, 20)
GROUP_KITS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("car", ("breathalyser", "interception", "pursuit")),
    ("car", ("weighing", "breathalyser", "interception")),
    ("motorcycle", ("pursuit", "interception", "ebike")),
)
AUX_STARTS = (7, 19)
SHIFT_HOURS = 12


async def reference(session: AsyncSession) -> None:
    rows: list[dict[str, Any]] = [
        {
            "code": PROVINCE_CODE,
            "name": "Shandong",
            "level": "province",
            "parent_code": None,
            "lat": None,
            "lon": None,
        }
    ]
    rows += [
        {
            "code": c.code,
            "name": c.name,
            "level": "city",
            "parent_code": PROVINCE_CODE,
            "lat": c.lat,
            "lon": c.lon,
        }
        for c in CITIES
    ]
    names = {c.code[:4]: c.name for c in CITIES}
    districts = sorted({d.admin_code for d in DEVICES})
    rows += [
        {
            "code": d,
            "name": f"{names[d[:4]]} district {d[4:]}",
            "level": "district",
            "parent_code": d[:4] + "00",
            "lat": None,
            "lon": None,
        }
        for d in districts
    ]
    await session.execute(insert(Jurisdiction).values(rows).on_conflict_do_nothing())


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


def demo_rosters(shifts: list[Shift], days: list[date], *, sworn: set[str]) -> list[dict[str, Any]]:
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
                    "has_sworn": any(o in sworn for o in crew),
                    "source": "demo",
                }
            )
    return rows


async def demo(session: AsyncSession, *, now: datetime) -> int:
    cities = demo_organisation()
    officers = [o for c in cities for o in c.officers]
    units = [u for c in cities for u in c.units]
    members = [m for c in cities for m in c.members]
    shifts = [s for c in cities for s in c.shifts]
    sworn = {o["id"] for o in officers if o["kind"] == "sworn"}
    # Sworn officers first: auxiliaries reference them.
    ordered = sorted(officers, key=lambda o: o["kind"] != "sworn")
    for chunk in _chunks(ordered, 1000):
        await session.execute(insert(Officer).values(chunk).on_conflict_do_nothing())
    await session.execute(insert(Unit).values(units).on_conflict_do_nothing())
    await session.execute(insert(UnitMember).values(members).on_conflict_do_nothing())
    today = local_date(now)
    rosters = demo_rosters(shifts, [today - timedelta(days=1), today, today + timedelta(days=1)], sworn=sworn)
    for chunk in _chunks(rosters, 1000):
        await session.execute(
            insert(Roster).values(chunk).on_conflict_do_nothing(index_elements=["unit_id", "starts_at"])
        )
    return len(units)


def _chunks(rows: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


async def keep_demo(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, stopping: asyncio.Event
) -> None:
    """Top the demo rosters up every hour, so a long-running demo stays on duty."""
    while not stopping.is_set():
        try:
            await asyncio.wait_for(stopping.wait(), timeout=3600)
        except TimeoutError:
            try:
                async with transaction(sessions) as s:
                    await demo(s, now=clock.now())
            except Exception:
                log.exception("demo roster top-up failed")
