from __future__ import annotations

from datetime import datetime

import asyncpg
from sqlalchemy import Select, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_alerts.db import SCHEMA
from qzx_alerts.hazards.models import HazardEventRow, HazardRow
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
    state: str | None = None,
    supervised: bool = False,
) -> list[HazardRow]:
    """Hazards whose owner lies under ``prefix``, newest first; ``supervised``: only those under
    supervision that are not yet rectified."""
    q: Select[HazardRow] = select(HazardRow).where(HazardRow.owner_code.startswith(prefix))
    if status:
        q = q.where(HazardRow.status == status)
    if risk_level:
        q = q.where(HazardRow.risk_level == risk_level)
    if state:
        q = q.where(HazardRow.state == state)
    if supervised:
        q = q.where(HazardRow.escalated_at.is_not(None), HazardRow.state.not_in(["rectified", "verified"]))
    if after:
        q = q.where(before_key((HazardRow.created_at, HazardRow.id), after))
    q = q.order_by(HazardRow.created_at.desc(), HazardRow.id.desc()).limit(limit)
    return list((await session.scalars(q)).all())


async def events(session: AsyncSession, hazard_id: str) -> list[HazardEventRow]:
    q = select(HazardEventRow).where(HazardEventRow.hazard_id == hazard_id).order_by(HazardEventRow.id)
    return list((await session.scalars(q)).all())


# The supervising level: the one above the owner (a village's township, a township's county, a
# county's city).
_SUPERVISOR = (
    "CASE length(owner_code) WHEN 12 THEN left(owner_code, 9) WHEN 9 THEN left(owner_code, 6) "
    "ELSE left(owner_code, 4) END"
)


async def mark_overdue(session: AsyncSession, *, now: datetime) -> list[tuple[str, str, str, str]]:
    """Mark the open hazards past their deadline escalated (once; the partial index serves the
    scan); (id, state, owner_code, supervised_by) of each marked now."""
    rows = await session.execute(
        text(
            f"UPDATE {SCHEMA}.hazards SET escalated_at = :now, supervised_by = {_SUPERVISOR} "
            "WHERE deadline IS NOT NULL AND deadline < :now AND escalated_at IS NULL "
            "AND state NOT IN ('rectified', 'verified') "
            "RETURNING id, state, owner_code, supervised_by"
        ),
        {"now": now},
    )
    return [(r.id, r.state, r.owner_code, r.supervised_by) for r in rows]
