"""The organisation: who exists, which unit they crew, which unit is on which shift. Every change
is checked against the caller's jurisdiction and written to the audit log in its transaction."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.audit import AuditContext, record
from qzx_common.contracts.geo import city_code, code_prefix
from qzx_common.web.auth import Principal
from qzx_common.web.errors import Conflict, Forbidden, InvalidRequest, NotFound
from qzx_dispatch.clock import local_date
from qzx_dispatch.db import SCHEMA
from qzx_dispatch.org import repository
from qzx_dispatch.org.models import Jurisdiction, Officer, Roster, Unit, UnitMember
from qzx_dispatch.org.schemas import (
    JurisdictionIn,
    LiveLocation,
    Member,
    OfficerIn,
    OfficerOut,
    OfficerPatch,
    Position,
    RosterIn,
    RosterOut,
    UnitIn,
    UnitOut,
    UnitPatch,
)

MAX_SHIFT = timedelta(hours=16)


def _guard(principal: Principal, admin_code: str) -> None:
    if not principal.sees(admin_code):
        raise Forbidden(
            f"{admin_code} is outside your jurisdiction {principal.jur}", code="out_of_jurisdiction"
        )


async def _known_jurisdiction(session: AsyncSession, code: str) -> Jurisdiction:
    j = await session.get(Jurisdiction, code)
    if j is None:
        raise InvalidRequest(f"admin_code: no jurisdiction {code}", code="unknown_jurisdiction")
    return j


async def _audit(
    session: AsyncSession,
    action: str,
    kind: str,
    ident: str,
    before: object,
    after: object,
    *,
    admin_code: str,
    audit_context: AuditContext,
) -> None:
    await record(
        session,
        schema=SCHEMA,
        context=audit_context,
        action=action,
        target_type=kind,
        target_id=ident,
        before=before,
        after=after,
        admin_code=audit_scope(admin_code),
    )


def audit_scope(admin_code: str) -> str:
    """The audit log's admin code: the district (squadron codes extend it; auditors' ``jur`` is at
    most a district, and the column holds six digits)."""
    return admin_code[:6]


# -- jurisdictions -------------------------------------------------------------------------------


async def create_jurisdiction(
    session: AsyncSession, *, principal: Principal, data: JurisdictionIn, audit_context: AuditContext
) -> Jurisdiction:
    _guard(principal, data.code)
    parent = await _known_jurisdiction(session, data.parent_code)
    if not data.code.startswith(code_prefix(parent.code)) or data.code == parent.code:
        raise InvalidRequest("code: must extend its parent's admin-code prefix", code="invalid_code")
    if await session.get(Jurisdiction, data.code) is not None:
        raise Conflict(f"jurisdiction {data.code} exists", code="jurisdiction_exists")
    row = Jurisdiction(**data.model_dump())
    session.add(row)
    await session.flush()
    await _audit(
        session,
        "jurisdiction.create",
        "jurisdiction",
        row.code,
        None,
        data,
        admin_code=row.code,
        audit_context=audit_context,
    )
    return row


# -- officers ------------------------------------------------------------------------------------


def officer_out(o: Officer) -> OfficerOut:
    return OfficerOut(
        id=o.id,
        name=o.name,
        kind=o.kind,
        admin_code=o.admin_code,
        skills=list(o.skills),
        bound_to=o.bound_to,
        active=o.active,
    )


async def _check_binding(
    session: AsyncSession, *, principal: Principal, kind: str, admin_code: str, bound_to: str | None
) -> None:
    if kind == "sworn":
        if bound_to is not None:
            raise InvalidRequest(
                "bound_to: only auxiliary officers are bound to a sworn officer", code="invalid_binding"
            )
        return
    if bound_to is None:
        raise InvalidRequest(
            "bound_to: an auxiliary officer must be bound to a sworn officer", code="invalid_binding"
        )
    sworn = await session.get(Officer, bound_to)
    if sworn is not None and not principal.sees(sworn.admin_code):
        sworn = None  # an officer the caller cannot see is as unknown as a missing one (no existence oracle)
    if sworn is None or sworn.kind != "sworn" or not sworn.active:
        raise InvalidRequest(f"bound_to: {bound_to} is not an active sworn officer", code="invalid_binding")
    if city_code(sworn.admin_code) != city_code(admin_code):
        raise InvalidRequest("bound_to: the sworn officer serves another city", code="invalid_binding")


async def create_officer(
    session: AsyncSession, *, principal: Principal, data: OfficerIn, audit_context: AuditContext
) -> Officer:
    _guard(principal, data.admin_code)
    await _known_jurisdiction(session, data.admin_code)
    await _check_binding(
        session, principal=principal, kind=data.kind, admin_code=data.admin_code, bound_to=data.bound_to
    )
    ident = data.id or f"O{uuid.uuid4().hex[:12]}"
    if await session.get(Officer, ident) is not None:
        raise Conflict(f"officer {ident} exists", code="officer_exists")
    row = Officer(
        id=ident,
        name=data.name,
        kind=data.kind,
        admin_code=data.admin_code,
        skills=data.skills,
        bound_to=data.bound_to,
        active=True,
    )
    session.add(row)
    await session.flush()
    await _audit(
        session,
        "officer.create",
        "officer",
        ident,
        None,
        officer_out(row),
        admin_code=row.admin_code,
        audit_context=audit_context,
    )
    return row


async def get_officer(session: AsyncSession, *, principal: Principal, officer_id: str) -> Officer:
    row = await session.get(Officer, officer_id)
    if row is None or not principal.sees(row.admin_code):
        raise NotFound(f"no officer {officer_id!r}", code="officer_not_found")
    return row


async def update_officer(
    session: AsyncSession,
    *,
    principal: Principal,
    officer_id: str,
    data: OfficerPatch,
    now: datetime,
    audit_context: AuditContext,
) -> Officer:
    row = await get_officer(session, principal=principal, officer_id=officer_id)
    before = officer_out(row)
    changes = data.model_dump(exclude_unset=True)
    if "bound_to" in changes:
        await _check_binding(
            session,
            principal=principal,
            kind=row.kind,
            admin_code=row.admin_code,
            bound_to=changes["bound_to"],
        )
    for field, value in changes.items():
        if value is not None or field == "bound_to":
            setattr(row, field, value)
    await session.flush()
    if row.kind == "sworn" and row.active != before.active:
        # A sworn officer taken off (or back on) duty mid-shift: his shifts' auxiliaries lose (or
        # regain) the sworn officer the assignment and the patrol app look for.
        await repository.refresh_has_sworn(session, officer_id=row.id, now=now)
    await _audit(
        session,
        "officer.update",
        "officer",
        row.id,
        before,
        officer_out(row),
        admin_code=row.admin_code,
        audit_context=audit_context,
    )
    return row


# -- units ---------------------------------------------------------------------------------------


async def unit_out(session: AsyncSession, units: list[Unit]) -> list[UnitOut]:
    ids = [u.id for u in units]
    crews = await repository.members(session, ids)
    where = await repository.locations(session, ids)
    out = []
    for u in units:
        crew = crews.get(u.id, [])
        loc = where.get(u.id)
        out.append(
            UnitOut(
                id=u.id,
                call_sign=u.call_sign,
                admin_code=u.admin_code,
                city_code=u.city_code,
                vehicle=u.vehicle,
                capabilities=list(u.capabilities),
                home=Position(lat=u.home_lat, lon=u.home_lon),
                members=[Member(id=o.id, kind=o.kind) for o in crew],
                auxiliary_only=bool(crew) and all(o.kind == "auxiliary" for o in crew),
                status=u.status,
                location=LiveLocation(lat=loc.lat, lon=loc.lon, at=loc.at) if loc else None,
            )
        )
    return out


async def _check_crew(
    session: AsyncSession, *, officer_ids: list[str], admin_code: str, principal: Principal | None
) -> list[Officer]:
    """The crew's officers, in order; ``principal`` (None for the planner) sees only its own: the
    others are as unknown as missing ones (no existence oracle)."""
    found = await repository.officers_by_id(session, officer_ids)
    if principal is not None:
        found = {i: o for i, o in found.items() if principal.sees(o.admin_code)}
    missing = [i for i in officer_ids if i not in found]
    if missing:
        raise InvalidRequest(f"members: unknown officer(s) {', '.join(missing)}", code="unknown_officer")
    for o in found.values():
        if not o.active:
            raise InvalidRequest(f"members: officer {o.id} is inactive", code="inactive_officer")
        if city_code(o.admin_code) != city_code(admin_code):
            raise InvalidRequest(f"members: officer {o.id} serves another city", code="officer_other_city")
    return [found[i] for i in officer_ids]


async def create_unit(
    session: AsyncSession, *, principal: Principal, data: UnitIn, audit_context: AuditContext
) -> Unit:
    _guard(principal, data.admin_code)
    await _known_jurisdiction(session, data.admin_code)
    await _check_crew(session, officer_ids=data.members, admin_code=data.admin_code, principal=principal)
    ident = data.id or f"U{uuid.uuid4().hex[:12]}"
    if await session.get(Unit, ident) is not None:
        raise Conflict(f"unit {ident} exists", code="unit_exists")
    row = Unit(
        id=ident,
        call_sign=data.call_sign,
        admin_code=data.admin_code,
        city_code=city_code(data.admin_code),
        vehicle=data.vehicle,
        capabilities=list(data.capabilities),
        home_lat=data.home.lat,
        home_lon=data.home.lon,
        status=data.status,
        change_seq=0,
    )
    session.add(row)
    await session.flush()
    session.add_all([UnitMember(unit_id=ident, officer_id=m) for m in data.members])
    await session.flush()
    await _audit(
        session,
        "unit.create",
        "unit",
        ident,
        None,
        data,
        admin_code=row.admin_code,
        audit_context=audit_context,
    )
    return row


async def get_unit(session: AsyncSession, *, principal: Principal, unit_id: str) -> Unit:
    row = await session.get(Unit, unit_id)
    if row is None or not principal.sees(row.admin_code):
        raise NotFound(f"no unit {unit_id!r}", code="unit_not_found")
    return row


async def update_unit(
    session: AsyncSession,
    *,
    principal: Principal,
    unit_id: str,
    data: UnitPatch,
    audit_context: AuditContext,
) -> Unit:
    row = await get_unit(session, principal=principal, unit_id=unit_id)
    before = (await unit_out(session, [row]))[0]
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "members" in changes:
        await _check_crew(
            session, officer_ids=changes["members"], admin_code=row.admin_code, principal=principal
        )
        await session.execute(delete(UnitMember).where(UnitMember.unit_id == row.id))
        session.add_all([UnitMember(unit_id=row.id, officer_id=m) for m in changes.pop("members")])
    if "home" in changes:
        home = changes.pop("home")
        row.home_lat, row.home_lon = home["lat"], home["lon"]
    for field, value in changes.items():
        setattr(row, field, value)
    await session.flush()
    await _audit(
        session,
        "unit.update",
        "unit",
        row.id,
        before,
        data,
        admin_code=row.admin_code,
        audit_context=audit_context,
    )
    return row


# -- rosters -------------------------------------------------------------------------------------


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
    crew = await _check_crew(session, officer_ids=crew_ids, admin_code=unit.admin_code, principal=principal)
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
    await _audit(
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
    await _audit(
        session,
        "roster.delete",
        "roster",
        str(roster_id),
        roster_out(found[0]),
        None,
        admin_code=found[1],
        audit_context=audit_context,
    )
