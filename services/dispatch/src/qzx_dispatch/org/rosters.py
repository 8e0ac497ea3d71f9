"""Rosters: which unit is on shift when (at most 16 hours a shift)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.audit import AuditContext
from qzx_common.web.auth import Principal
from qzx_common.web.errors import Conflict, InvalidRequest, NotFound
from qzx_dispatch.clock import local_date
from qzx_dispatch.org import repository
from qzx_dispatch.org.audit import audit_change
from qzx_dispatch.org.models import Roster, Unit
from qzx_dispatch.org.schemas import (
    RosterIn,
    RosterOut,
)
from qzx_dispatch.org.units import check_crew
from qzx_dispatch.tasks import pending

MAX_SHIFT = timedelta(hours=16)


def roster_out(r: Roster) -> RosterOut:
    return RosterOut(
        id=r.id,
        unit_id=r.unit_id,
        shift_date=r.shift_date,
        starts_at=r.starts_at,
        ends_at=r.ends_at,
        crew=list(r.crew),
        has_sworn=r.has_sworn,
        source=r.source,
    )


async def add_roster(
    session: AsyncSession,
    *,
    unit: Unit,
    starts_at: datetime,
    ends_at: datetime,
    crew_ids: list[str] | None,
    source: str,
    principal: Principal | None,
) -> Roster:
    """Validated insert (the caller holds the unit's row lock, so overlaps cannot race);
    ``principal`` is who asked (None: the shift planner)."""
    if ends_at <= starts_at:
        raise InvalidRequest("ends_at: must be after starts_at", code="invalid_window")
    if ends_at - starts_at > MAX_SHIFT:
        raise InvalidRequest("ends_at: a shift lasts at most 16 hours", code="invalid_window")
    if crew_ids is None:
        crew_ids = [m.id for m in (await repository.members(session, [unit.id]))[unit.id] if m.active]
    crew = await check_crew(session, officer_ids=crew_ids, admin_code=unit.admin_code, principal=principal)
    if await repository.overlapping_rosters(
        session, unit_id=unit.id, officer_ids=[], starts_at=starts_at, ends_at=ends_at
    ):
        raise Conflict(f"unit {unit.id} already has a shift overlapping this window", code="roster_overlap")
    if crew_ids:
        clash = await repository.overlapping_rosters(
            session, unit_id=None, officer_ids=crew_ids, starts_at=starts_at, ends_at=ends_at
        )
        if clash:
            raise Conflict(
                f"crew already on unit {clash[0].unit_id}'s shift in this window",
                code="officer_double_booked",
            )
    row = Roster(
        unit_id=unit.id,
        shift_date=local_date(starts_at),
        starts_at=starts_at,
        ends_at=ends_at,
        crew=crew_ids,
        has_sworn=any(o.kind == "sworn" for o in crew),
        source=source,
    )
    session.add(row)
    await session.flush()
    return row


async def lock_unit(session: AsyncSession, unit_id: str) -> Unit | None:
    return await session.get(Unit, unit_id, with_for_update=True, populate_existing=True)


async def create_roster(
    session: AsyncSession, *, principal: Principal, data: RosterIn, audit_context: AuditContext
) -> Roster:
    unit = await lock_unit(session, data.unit_id)
    if unit is None or not principal.sees(unit.admin_code):
        # A reference inside the body, like members' officer ids: the body is invalid.
        raise InvalidRequest(f"unit_id: no unit {data.unit_id!r}", code="unknown_unit")
    if data.shift_date is not None and data.shift_date != local_date(data.starts_at):
        raise InvalidRequest("shift_date: must be the local date of starts_at", code="invalid_window")
    row = await add_roster(
        session,
        unit=unit,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        crew_ids=data.crew,
        source="manual",
        principal=principal,
    )
    now = datetime.now(UTC)
    if row.starts_at <= now < row.ends_at:  # on shift from now: the city's queue may move
        await pending.retry_now(session, city_code=unit.city_code, now=now)
    await audit_change(
        session,
        "roster.create",
        "roster",
        str(row.id),
        None,
        roster_out(row),
        admin_code=unit.admin_code,
        audit_context=audit_context,
    )
    return row


async def delete_roster(
    session: AsyncSession, *, principal: Principal, roster_id: int, audit_context: AuditContext
) -> None:
    q = select(Roster, Unit.admin_code).join(Unit, Unit.id == Roster.unit_id).where(Roster.id == roster_id)
    found = (await session.execute(q.with_for_update(of=Roster))).first()
    if found is None or not principal.sees(found[1]):
        raise NotFound(f"no roster {roster_id}", code="roster_not_found")
    await session.delete(found[0])
    await session.flush()
    await audit_change(
        session,
        "roster.delete",
        "roster",
        str(roster_id),
        roster_out(found[0]),
        None,
        admin_code=found[1],
        audit_context=audit_context,
    )
