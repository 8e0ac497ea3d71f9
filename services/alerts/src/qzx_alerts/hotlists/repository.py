from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import asyncpg
from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_alerts.db import SCHEMA
from qzx_alerts.hotlists.models import HotlistRow
from qzx_alerts.scoring.domain import HotlistHit
from qzx_common.contracts.alerts import Priority
from qzx_common.contracts.geo import code_prefix
from qzx_common.db import before_key


async def active_hits(raw: asyncpg.Connection, plates: Sequence[str]) -> dict[str, list[HotlistHit]]:
    """Active entries for the batch's plates, in one indexed lookup (each applies only inside its
    owner's jurisdiction: ``HotlistHit.applies_to``)."""
    if not plates:
        return {}
    rows = await raw.fetch(
        f"SELECT id, plate, priority, reason, source, covert, admin_code FROM {SCHEMA}.hotlists "
        "WHERE plate = ANY($1::text[]) AND (expires_at IS NULL OR expires_at > now())",
        sorted(set(plates)),
    )
    hits: dict[str, list[HotlistHit]] = defaultdict(list)
    for r in rows:
        hits[r["plate"]].append(
            HotlistHit(
                r["id"],
                r["plate"],
                Priority(r["priority"]),
                r["reason"],
                r["source"],
                r["covert"],
                code_prefix(r["admin_code"]),
            )
        )
    return hits


async def get(session: AsyncSession, entry_id: str) -> HotlistRow | None:
    return await session.get(HotlistRow, entry_id)


async def by_ids(session: AsyncSession, ids: Sequence[str]) -> dict[str, HotlistRow]:
    rows = await session.scalars(select(HotlistRow).where(HotlistRow.id.in_(list(ids))).with_for_update())
    return {r.id: r for r in rows}


async def search(
    session: AsyncSession,
    *,
    scopes: Sequence[str],
    jur: str,
    plate: str | None,
    active_at: datetime | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[HotlistRow]:
    """Entries owned inside the caller's jurisdiction or by a unit above it (``scopes``)."""
    q: Select[HotlistRow] = select(HotlistRow).where(
        or_(HotlistRow.admin_code.startswith(jur), HotlistRow.admin_code.in_(list(scopes)))
    )
    if plate:
        q = q.where(HotlistRow.plate == plate)
    if active_at:
        q = q.where(or_(HotlistRow.expires_at.is_(None), HotlistRow.expires_at > active_at))
    if after:
        q = q.where(before_key((HotlistRow.created_at, HotlistRow.id), after))
    q = q.order_by(HotlistRow.created_at.desc(), HotlistRow.id.desc()).limit(limit)
    return list((await session.scalars(q)).all())
