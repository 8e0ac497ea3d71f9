from __future__ import annotations

from datetime import datetime

import asyncpg
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_alerts.db import SCHEMA
from qzx_alerts.hazards.models import HazardRow
from qzx_alerts.scoring.domain import HazardPoint
from qzx_common.db import before_key


async def all_points(raw: asyncpg.Connection) -> list[HazardPoint]:
    rows = await raw.fetch(
        f"SELECT id, name, lat, lon, radius_m, risk_level, status, left(admin_code, 4) AS city FROM {SCHEMA}.hazards"
    )
    return [HazardPoint(**dict(r)) for r in rows]


async def get(session: AsyncSession, hazard_id: str) -> HazardRow | None:
    return await session.get(HazardRow, hazard_id)


async def search(
    session: AsyncSession,
    *,
    prefix: str,
    status: str | None,
    risk_level: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[HazardRow]:
    q: Select[HazardRow] = select(HazardRow).where(HazardRow.admin_code.startswith(prefix))
    if status:
        q = q.where(HazardRow.status == status)
    if risk_level:
        q = q.where(HazardRow.risk_level == risk_level)
    if after:
        q = q.where(before_key((HazardRow.created_at, HazardRow.id), after))
    q = q.order_by(HazardRow.created_at.desc(), HazardRow.id.desc()).limit(limit)
    return list((await session.scalars(q)).all())
