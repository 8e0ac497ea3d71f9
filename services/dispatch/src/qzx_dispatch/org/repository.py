from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import any_, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_dispatch.org.models import Jurisdiction, Officer, Roster, Unit, UnitLocation, UnitMember


async def jurisdictions(session: AsyncSession, *, jur: str) -> list[Jurisdiction]:
    q = select(Jurisdiction).where(Jurisdiction.code.startswith(jur[:2])).order_by(Jurisdiction.code)
    return list((await session.scalars(q)).all())


async def officers(
    session: AsyncSession,
    *,
    jur: str,
    admin_code: str | None,
    kind: str | None,
    after: str | None,
    limit: int,
) -> list[Officer]:
    q = select(Officer).where(Officer.admin_code.startswith(jur))
    if admin_code:
        q = q.where(Officer.admin_code.startswith(admin_code))
    if kind:
        q = q.where(Officer.kind == kind)
    if after:
        q = q.where(Officer.id > after)
    return list((await session.scalars(q.order_by(Officer.id).limit(limit))).all())


async def officers_by_id(session: AsyncSession, ids: Sequence[str]) -> dict[str, Officer]:
    if not ids:
        return {}
    rows = await session.scalars(select(Officer).where(Officer.id.in_(list(ids))))
    return {o.id: o for o in rows}


async def units(
    session: AsyncSession,
    *,
    jur: str,
    admin_code: str | None,
    vehicle: str | None,
    capability: str | None,
    after: str | None,
    limit: int,
) -> list[Unit]:
    q = select(Unit).where(Unit.admin_code.startswith(jur))
    if admin_code:
        q = q.where(Unit.admin_code.startswith(admin_code))
    if vehicle:
        q = q.where(Unit.vehicle == vehicle)
    if capability:
        q = q.where(Unit.capabilities.contains([capability]))
    if after:
        q = q.where(Unit.id > after)
    return list((await session.scalars(q.order_by(Unit.id).limit(limit))).all())


async def members(session: AsyncSession, unit_ids: Sequence[str]) -> dict[str, list[Officer]]:
    out: dict[str, list[Officer]] = {u: [] for u in unit_ids}
    if not unit_ids:
        return out
    q = (
        select(UnitMember.unit_id, Officer)
        .join(Officer, Officer.id == UnitMember.officer_id)
        .where(UnitMember.unit_id.in_(list(unit_ids)))
        .order_by(Officer.id)
    )
    for unit_id, officer in (await session.execute(q)).all():
        out[unit_id].append(officer)
    return out


async def locations(session: AsyncSession, unit_ids: Sequence[str]) -> dict[str, UnitLocation]:
    if not unit_ids:
        return {}
    rows = await session.scalars(select(UnitLocation).where(UnitLocation.unit_id.in_(list(unit_ids))))
    return {r.unit_id: r for r in rows}


async def overlapping_rosters(
    session: AsyncSession,
    *,
    unit_id: str | None,
    officer_ids: Sequence[str],
    starts_at: datetime,
    ends_at: datetime,
) -> list[Roster]:
    q = select(Roster).where(Roster.starts_at < ends_at, Roster.ends_at > starts_at)
    if unit_id is not None:
        q = q.where(Roster.unit_id == unit_id)
    else:
        q = q.where(Roster.crew.overlap(list(officer_ids)))
    return list((await session.scalars(q)).all())


async def rosters(
    session: AsyncSession,
    *,
    jur: str,
    admin_code: str | None,
    unit_id: str | None,
    on_duty_at: datetime | None,
    since: datetime | None,
    until: datetime | None,
    after: int | None,
    limit: int,
) -> list[Roster]:
    q = select(Roster).join(Unit, Unit.id == Roster.unit_id).where(Unit.admin_code.startswith(jur))
    if admin_code:
        q = q.where(Unit.admin_code.startswith(admin_code))
    if unit_id:
        q = q.where(Roster.unit_id == unit_id)
    if on_duty_at:
        q = q.where(Roster.starts_at <= on_duty_at, Roster.ends_at > on_duty_at)
    if since:
        q = q.where(Roster.ends_at > since)
    if until:
        q = q.where(Roster.starts_at < until)
    if after is not None:
        q = q.where(Roster.id > after)
    return list((await session.scalars(q.order_by(Roster.id).limit(limit))).all())


async def current_rosters(
    session: AsyncSession, *, unit_ids: Sequence[str], now: datetime
) -> dict[str, Roster]:
    if not unit_ids:
        return {}
    q = (
        select(Roster)
        .where(Roster.unit_id.in_(list(unit_ids)), Roster.starts_at <= now, Roster.ends_at > now)
        .order_by(Roster.ends_at)
    )
    return {r.unit_id: r for r in await session.scalars(q)}


async def refresh_has_sworn(session: AsyncSession, *, officer_id: str, now: datetime) -> None:
    """Re-derive ``has_sworn`` of the shifts not yet over that ``officer_id`` crews (only active
    sworn officers count, as when the roster was made)."""
    sworn_on_board = exists().where(
        Officer.id == any_(Roster.crew), Officer.kind == "sworn", Officer.active.is_(True)
    )
    await session.execute(
        update(Roster)
        .where(Roster.ends_at > now, Roster.crew.contains([officer_id]))
        .values(has_sworn=sworn_on_board)
        .execution_options(synchronize_session=False)
    )
