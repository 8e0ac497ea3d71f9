"""The reference jurisdictions dispatch runs on: the province, its cities and the districts of the
device catalogue, inserted on every start (idempotent). The demo organisation of `make run` is dev
tooling (``qzx_dev.demo``), seeded through the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.contracts.devices import DEVICES
from qzx_common.contracts.geo import CITIES, PROVINCE_CODE
from qzx_dispatch.org.models import Jurisdiction


async def seed(session: AsyncSession) -> None:
    """The province, its cities and the districts the device catalogue names (idempotent)."""
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
