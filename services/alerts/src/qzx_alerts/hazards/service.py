"""The hazard ledger: every write is jurisdiction-checked and audited in the same transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from qzx_alerts.db import SCHEMA
from qzx_alerts.hazards import repository
from qzx_alerts.hazards.models import HazardRow
from qzx_alerts.hazards.schemas import Hazard, HazardIn, HazardPatch
from qzx_common import audit
from qzx_common.audit import AuditContext
from qzx_common.contracts.areas import city_at, lies_in
from qzx_common.contracts.geo import CITY_BY_CODE
from qzx_common.web.auth import Principal, ensure_sees
from qzx_common.web.errors import InvalidRequest, NotFound


def _ensure_in_area(admin_code: str, lat: float, lon: float) -> None:
    """A hazard point scores the sightings of its admin code's city near it: it must lie there."""
    if not lies_in(admin_code, lat, lon):
        there = CITY_BY_CODE.get(city_at(lat, lon) or "")
        where = f" (it lies in {there.name})" if there else ""
        raise InvalidRequest(
            f"lat/lon ({lat}, {lon}) lie outside the city of admin_code {admin_code}{where}",
            code="outside_admin_area",
        )


async def visible(session: AsyncSession, *, principal: Principal, hazard_id: str) -> HazardRow:
    row = await repository.get(session, hazard_id)
    if row is None or not principal.sees(row.admin_code):
        raise NotFound(f"no hazard point with id {hazard_id!r}", code="hazard_not_found")
    return row


def _snapshot(row: HazardRow) -> dict[str, object]:
    return Hazard.model_validate(row).model_dump(mode="json")


async def create(
    session: AsyncSession, *, principal: Principal, data: HazardIn, audit_context: AuditContext
) -> HazardRow:
    ensure_sees(principal, data.admin_code)
    _ensure_in_area(data.admin_code, data.lat, data.lon)
    now = datetime.now(UTC)
    row = HazardRow(
        id=f"hz-{uuid.uuid4().hex[:16]}",
        created_by=principal.sub,
        created_at=now,
        updated_at=now,
        **data.model_dump(),
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        schema=SCHEMA,
        context=audit_context,
        action="hazard.create",
        target_type="hazard",
        target_id=row.id,
        after=_snapshot(row),
        admin_code=row.admin_code,
    )
    return row


async def update(
    session: AsyncSession,
    *,
    principal: Principal,
    hazard_id: str,
    patch: HazardPatch,
    audit_context: AuditContext,
) -> HazardRow:
    row = await visible(session, principal=principal, hazard_id=hazard_id)
    before = _snapshot(row)
    changes = patch.model_dump(exclude_unset=True)
    if "admin_code" in changes:
        ensure_sees(principal, changes["admin_code"])
    if changes.keys() & {"admin_code", "lat", "lon"}:
        _ensure_in_area(
            changes.get("admin_code", row.admin_code),
            changes.get("lat", row.lat),
            changes.get("lon", row.lon),
        )
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = datetime.now(UTC)
    await session.flush()
    await audit.record(
        session,
        schema=SCHEMA,
        context=audit_context,
        action="hazard.update",
        target_type="hazard",
        target_id=row.id,
        before=before,
        after=_snapshot(row),
        admin_code=row.admin_code,
    )
    return row


async def delete(
    session: AsyncSession, *, principal: Principal, hazard_id: str, audit_context: AuditContext
) -> None:
    row = await visible(session, principal=principal, hazard_id=hazard_id)
    await audit.record(
        session,
        schema=SCHEMA,
        context=audit_context,
        action="hazard.delete",
        target_type="hazard",
        target_id=row.id,
        before=_snapshot(row),
        admin_code=row.admin_code,
    )
    await session.delete(row)
