"""What the org service writes to the audit log, under which admin code."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.audit import AuditContext, record
from qzx_dispatch.db import SCHEMA


async def audit_change(
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
