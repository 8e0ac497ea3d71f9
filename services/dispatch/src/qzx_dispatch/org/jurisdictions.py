"""Jurisdictions: the admin-code tree that every officer, unit and roster hangs from."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.audit import AuditContext
from qzx_common.contracts.geo import code_prefix
from qzx_common.web.auth import Principal, ensure_sees
from qzx_common.web.errors import Conflict, InvalidRequest
from qzx_dispatch.org.audit import audit_change
from qzx_dispatch.org.models import Jurisdiction
from qzx_dispatch.org.schemas import (
    JurisdictionIn,
)


async def known_jurisdiction(session: AsyncSession, code: str) -> Jurisdiction:
    j = await session.get(Jurisdiction, code)
    if j is None:
        raise InvalidRequest(f"admin_code: no jurisdiction {code}", code="unknown_jurisdiction")
    return j


async def create_jurisdiction(
    session: AsyncSession, *, principal: Principal, data: JurisdictionIn, audit_context: AuditContext
) -> Jurisdiction:
    ensure_sees(principal, data.code)
    parent = await known_jurisdiction(session, data.parent_code)
    if not data.code.startswith(code_prefix(parent.code)) or data.code == parent.code:
        raise InvalidRequest("code: must extend its parent's admin-code prefix", code="invalid_code")
    if await session.get(Jurisdiction, data.code) is not None:
        raise Conflict(f"jurisdiction {data.code} exists", code="jurisdiction_exists")
    row = Jurisdiction(**data.model_dump())
    session.add(row)
    await session.flush()
    await audit_change(
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
