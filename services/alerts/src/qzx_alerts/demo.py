"""Demo reference data for `make run` (QZX_DEMO_DATA=1): a few hazard points at real device
positions and hotlist entries, inserted once (fixed ids, so every start is idempotent)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from qzx_alerts.db import SCHEMA
from qzx_common.contracts.devices import DEVICES

_HAZARDS = (
    # (device index in the catalogue, name, radius m, risk, stock|new)
    (2, "Jinan G2 junction with level crossing", 400, "high", "stock"),
    (9, "Jinan rural road market", 300, "medium", "new"),
    (30, "Qingdao school gate crossing", 250, "high", "new"),
    (60, "Zibo long downhill section", 800, "medium", "stock"),
    (120, "Weifang accident-prone bend", 500, "low", "stock"),
)
_HOTLIST = (
    # (plate, priority, reason, covert, owner)
    ("鲁A9Z001", "P1", "vehicle used in a hit-and-run", False, "370100"),
    ("鲁B7X552", "P2", "unpaid serious overload penalties", False, "370200"),
    ("鲁C3K808", "P1", "surveillance target", True, "370000"),
)


async def seed_demo_data(conn: AsyncConnection) -> None:
    for n, (index, name, radius, risk, status) in enumerate(_HAZARDS):
        d = DEVICES[index % len(DEVICES)]
        await conn.execute(
            text(
                f"INSERT INTO {SCHEMA}.hazards (id, name, lat, lon, radius_m, risk_level, status, admin_code, "
                "created_by) VALUES (:id, :name, :lat, :lon, :r, :risk, :status, :ac, 'system:demo') "
                "ON CONFLICT (id) DO NOTHING"
            ),
            {
                "id": f"hz-demo-{n}",
                "name": name,
                "lat": d.lat,
                "lon": d.lon,
                "r": radius,
                "risk": risk,
                "status": status,
                "ac": d.admin_code,
            },
        )
    for n, (plate, priority, reason, covert, owner) in enumerate(_HOTLIST):
        await conn.execute(
            text(
                f"INSERT INTO {SCHEMA}.hotlists (id, plate, priority, reason, source, covert, admin_code, "
                "created_by) VALUES (:id, :plate, :p, :reason, 'demo', :covert, :owner, 'system:demo') "
                "ON CONFLICT DO NOTHING"
            ),
            {
                "id": f"hl-demo-{n}",
                "plate": plate,
                "p": priority,
                "reason": reason,
                "covert": covert,
                "owner": owner,
            },
        )
