"""Officers (sworn and auxiliary) and the binding of an auxiliary to a sworn officer."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.audit import AuditContext
from qzx_common.contracts.geo import city_code
from qzx_common.web.auth import Principal, ensure_sees
from qzx_common.web.errors import Conflict, InvalidRequest, NotFound
from qzx_dispatch.org import repository
from qzx_dispatch.org.audit import audit_change
from qzx_dispatch.org.jurisdictions import known_jurisdiction
from qzx_dispatch.org.models import Officer
from qzx_dispatch.org.schemas import (
    OfficerIn,
    OfficerOut,
    OfficerPatch,
)


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
    ensure_sees(principal, data.admin_code)
    await known_jurisdiction(session, data.admin_code)
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
    await audit_change(
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
    await audit_change(
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
