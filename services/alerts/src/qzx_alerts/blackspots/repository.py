from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from qzx_alerts.blackspots.analysis import AccidentPoint, Cell, KnownHazard
from qzx_alerts.blackspots.models import ProposalRow, RunRow
from qzx_alerts.db import SCHEMA


async def accidents(
    conn: AsyncConnection, *, prefix: str, since: datetime, until: datetime
) -> list[AccidentPoint]:
    rows = await conn.execute(
        text(
            f"SELECT accident_id, lat, lon, occurred_at, injured, killed, admin_code FROM {SCHEMA}.accident_facts "
            "WHERE admin_code LIKE :prefix || '%' AND occurred_at >= :since AND occurred_at < :until"
        ),
        {"prefix": prefix, "since": since, "until": until},
    )
    return [AccidentPoint(*r) for r in rows]


async def cells(conn: AsyncConnection, *, prefix: str, since: datetime, until: datetime) -> list[Cell]:
    """The period's violations per cell (days resolve the period: counts are kept per UTC day)."""
    rows = await conn.execute(
        text(
            f"SELECT lat_q, lon_q, sum(violations)::bigint FROM {SCHEMA}.violation_cells "
            "WHERE admin_code LIKE :prefix || '%' AND day >= CAST(:since AS date) AND day < CAST(:until AS date) "
            "GROUP BY lat_q, lon_q"
        ),
        {"prefix": prefix, "since": since, "until": until},
    )
    return [Cell(int(a), int(b), int(c)) for a, b, c in rows]


async def known_hazards(conn: AsyncConnection, *, prefix: str) -> list[KnownHazard]:
    rows = await conn.execute(
        text(f"SELECT id, lat, lon, radius_m FROM {SCHEMA}.hazards WHERE admin_code LIKE :prefix || '%'"),
        {"prefix": prefix},
    )
    return [KnownHazard(*r) for r in rows]


async def set_progress(conn: AsyncConnection, run_id: str, **values: Any) -> None:
    await conn.execute(update(RunRow).where(RunRow.id == run_id).values(updated_at=text("now()"), **values))


async def add_proposals(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(ProposalRow), rows)


async def fail_stale(conn: AsyncConnection, *, older_than: datetime) -> int:
    """Runs whose process stopped before they finished (no progress since ``older_than``)."""
    result = await conn.execute(
        update(RunRow)
        .where(RunRow.status.in_(["queued", "running"]), RunRow.updated_at < older_than)
        .values(
            status="failed", error="interrupted: the process running it stopped", updated_at=text("now()")
        )
    )
    return result.rowcount


async def get_run(session: AsyncSession, run_id: str) -> RunRow | None:
    return await session.get(RunRow, run_id)


async def get_proposal(session: AsyncSession, proposal_id: str) -> ProposalRow | None:
    return await session.get(ProposalRow, proposal_id, with_for_update=True)


async def search(
    session: AsyncSession,
    *,
    prefix: str,
    run_id: str | None,
    decision: str | None,
    ledger: str | None,
    after: tuple[str, str] | None,
    limit: int,
) -> list[ProposalRow]:
    """Newest run first, each run's proposals by rank (most accidents first)."""
    q = select(ProposalRow).where(ProposalRow.admin_code.startswith(prefix))
    if run_id:
        q = q.where(ProposalRow.run_id == run_id)
    if decision:
        q = q.where(ProposalRow.decision == decision)
    if ledger:
        q = q.where(ProposalRow.ledger == ledger)
    if after:
        run, pid = after
        q = q.where((ProposalRow.run_id < run) | ((ProposalRow.run_id == run) & (ProposalRow.id > pid)))
    q = q.order_by(ProposalRow.run_id.desc(), ProposalRow.id).limit(limit)
    return list((await session.scalars(q)).all())
