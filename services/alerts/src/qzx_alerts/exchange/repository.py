"""Reads for the outbound exchange (the change log and daily aggregates) and the merge lock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from qzx_alerts.alerts.columns import NOT_COVERT_HIT_SQL
from qzx_alerts.db import SCHEMA


async def lock_source(session: AsyncSession, source: str) -> None:
    """Merges of one partner's list run one at a time (two new entries for a plate cannot race)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": f"hotlist:{source}"})


async def changes_after(conn: AsyncConnection, *, after: int, prefix: str, limit: int) -> list[Any]:
    rows = await conn.execute(
        text(
            f"SELECT id, payload FROM {SCHEMA}.alert_changes WHERE id > :after AND admin_code LIKE :prefix "
            "ORDER BY id LIMIT :limit"
        ),
        {"after": after, "prefix": prefix + "%", "limit": limit},
    )
    return list(rows)


async def violations_per_city(
    conn: AsyncConnection, *, start: datetime, end: datetime, prefix: str
) -> list[Any]:
    rows = await conn.execute(
        text(
            f"SELECT left(admin_code, 4) AS city, violation, count(*) AS n FROM {SCHEMA}.sightings "
            "WHERE captured_at >= :start AND captured_at < :end AND admin_code LIKE :prefix GROUP BY 1, 2"
        ),
        {"start": start, "end": end, "prefix": prefix + "%"},
    )
    return list(rows.mappings())


async def alerts_per_city(conn: AsyncConnection, *, start: datetime, end: datetime, prefix: str) -> list[Any]:
    rows = await conn.execute(
        text(
            f"""SELECT left(admin_code, 4) AS city, priority, count(*) AS n,
                   count(*) FILTER (WHERE dispatched_at IS NOT NULL) AS dispatched,
                   count(*) FILTER (WHERE status = 'resolved') AS resolved,
                   count(*) FILTER (WHERE status = 'dismissed') AS dismissed,
                   count(*) FILTER (WHERE escalated_at IS NOT NULL) AS escalated
            FROM {SCHEMA}.alerts
            WHERE first_seen >= :start AND first_seen < :end AND admin_code LIKE :prefix
              AND {NOT_COVERT_HIT_SQL}
            GROUP BY 1, 2"""
        ),
        {"start": start, "end": end, "prefix": prefix + "%"},
    )
    return list(rows.mappings())
