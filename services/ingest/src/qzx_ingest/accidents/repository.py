"""Idempotent writes and keyset reads of ``ingest.accidents``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Select, func, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from qzx_common.contracts.accidents import MAJOR_ACCIDENT_DEATHS, AccidentReport
from qzx_ingest.accidents.models import AccidentRow, QuickCaseRow


@dataclass(frozen=True, slots=True)
class Filters:
    jur: str
    admin_code: str | None = None
    severity: str | None = None
    road_feature: str | None = None
    rural: bool | None = None
    ebike_involved: bool | None = None
    major: bool | None = None
    since: datetime | None = None
    until: datetime | None = None


def _values(report: AccidentReport, payload: bytes, reporter: str) -> dict[str, Any]:
    return {
        "accident_id": report.accident_id,
        "occurred_at": report.occurred_at,
        "admin_code": report.location.admin_code,
        "severity": report.severity.value,
        "road_feature": report.road_feature.value,
        "injured": report.injured,
        "killed": report.killed,
        "ebike_involved": report.ebike_involved,
        "rural": report.rural,
        "lat": report.location.lat,
        "lon": report.location.lon,
        "reporter": reporter,
        "payload": orjson.loads(payload),
    }


async def insert_new(
    conn: AsyncConnection, reports: Sequence[tuple[AccidentReport, bytes]], *, reporter: str
) -> set[str]:
    """Insert the reports (with their normalised JSON) not stored yet; the ids that were new."""
    if not reports:
        return set()
    stmt = (
        insert(AccidentRow)
        .values([_values(r, payload, reporter) for r, payload in reports])
        .on_conflict_do_nothing(index_elements=["accident_id"])
        .returning(AccidentRow.accident_id)
    )
    return set((await conn.scalars(stmt)).all())


def payload_of(row: AccidentRow, quick: QuickCaseRow | None = None) -> dict[str, Any]:
    out = row.payload | {
        "major": row.killed >= MAJOR_ACCIDENT_DEATHS,
        "received_at": row.received_at.isoformat(),
        "reporter": row.reporter,
    }
    if quick is not None:
        out["quick_handling"] = quick_payload(quick)
    return out


def quick_payload(q: QuickCaseRow) -> dict[str, Any]:
    return {
        "status": q.status,
        "outcome": q.outcome,
        "road_cleared_at": q.road_cleared_at.isoformat() if q.road_cleared_at else None,
        "clear_s": q.clear_s,
        "closed_by": q.closed_by,
    }


async def get(session: AsyncSession, accident_id: str) -> AccidentRow | None:
    return await session.get(AccidentRow, accident_id)


async def search(
    session: AsyncSession, *, filters: Filters, after: tuple[datetime, str] | None, limit: int
) -> list[AccidentRow]:
    f, a = filters, AccidentRow
    q: Select[AccidentRow] = select(a).where(a.admin_code.startswith(f.jur))
    if f.admin_code:
        q = q.where(a.admin_code.startswith(f.admin_code))
    for column, wanted in (
        (a.severity, f.severity),
        (a.road_feature, f.road_feature),
        (a.rural, f.rural),
        (a.ebike_involved, f.ebike_involved),
    ):
        if wanted is not None:
            q = q.where(column == wanted)
    if f.major is not None:
        q = q.where(a.killed >= MAJOR_ACCIDENT_DEATHS if f.major else a.killed < MAJOR_ACCIDENT_DEATHS)
    if f.since:
        q = q.where(a.occurred_at >= f.since)
    if f.until:
        q = q.where(a.occurred_at < f.until)
    if after:
        at, ident = after
        last = tuple_(literal(at, a.occurred_at.type), literal(ident, a.accident_id.type))
        q = q.where(tuple_(a.occurred_at, a.accident_id) < last)
    q = q.order_by(a.occurred_at.desc(), a.accident_id.desc()).limit(limit)
    return list((await session.scalars(q)).all())


async def open_quick_cases(conn: AsyncConnection, reports: Sequence[AccidentReport]) -> None:
    if reports:
        await conn.execute(
            insert(QuickCaseRow).values(
                [
                    {
                        "accident_id": r.accident_id,
                        "admin_code": r.location.admin_code,
                        "occurred_at": r.occurred_at,
                    }
                    for r in reports
                ]
            )
        )


async def quick_case_for_update(conn: AsyncConnection, accident_id: str) -> Any:
    q = select(QuickCaseRow.__table__).where(QuickCaseRow.accident_id == accident_id).with_for_update()
    return (await conn.execute(q)).mappings().first()


async def close_quick_case(conn: AsyncConnection, *, accident_id: str, values: dict[str, Any]) -> None:
    await conn.execute(
        update(QuickCaseRow).where(QuickCaseRow.accident_id == accident_id).values(status="closed", **values)
    )


async def quick_cases_of(session: AsyncSession, ids: Sequence[str]) -> dict[str, QuickCaseRow]:
    if not ids:
        return {}
    rows = await session.scalars(select(QuickCaseRow).where(QuickCaseRow.accident_id.in_(ids)))
    return {r.accident_id: r for r in rows}


async def quick_summary(
    session: AsyncSession, *, prefix: str, since: datetime | None, until: datetime | None
) -> dict[str, Any]:
    """Open and closed cases under ``prefix`` and the road-clear times of the closed ones."""
    q = QuickCaseRow
    closed = q.status == "closed"
    stmt = select(
        func.count().filter(q.status == "open").label("open"),
        func.count().filter(closed).label("closed"),
        func.count().filter(q.outcome == "agreed").label("agreed"),
        func.percentile_cont(0.5).within_group(q.clear_s).filter(closed).label("median"),
        func.percentile_cont(0.9).within_group(q.clear_s).filter(closed).label("p90"),
        func.max(q.clear_s).label("max"),
    ).where(q.admin_code.startswith(prefix))
    if since:
        stmt = stmt.where(q.occurred_at >= since)
    if until:
        stmt = stmt.where(q.occurred_at < until)
    return dict((await session.execute(stmt)).mappings().one())
