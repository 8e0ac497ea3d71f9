"""Units: their crews and how they are shown (with their rostered shifts and live position)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.audit import AuditContext
from qzx_common.contracts.geo import city_code
from qzx_common.web.auth import Principal, ensure_sees
from qzx_common.web.errors import Conflict, InvalidRequest, NotFound
from qzx_dispatch.org import repository
from qzx_dispatch.org.audit import audit_change
from qzx_dispatch.org.jurisdictions import known_jurisdiction
from qzx_dispatch.org.models import Officer, Unit, UnitMember
from qzx_dispatch.org.schemas import (
    LiveLocation,
    Member,
    Position,
    UnitIn,
    UnitOut,
    UnitPatch,
)
from qzx_dispatch.tasks import pending


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


async def check_crew(
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
    ensure_sees(principal, data.admin_code)
    await known_jurisdiction(session, data.admin_code)
    await check_crew(session, officer_ids=data.members, admin_code=data.admin_code, principal=principal)
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
    await audit_change(
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
        await check_crew(
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
    if changes.get("status") == "available" and before.status != "available":
        await pending.retry_now(session, city_code=row.city_code, now=datetime.now(UTC))
    await audit_change(
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
