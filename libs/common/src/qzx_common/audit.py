"""Append-only audit log: every change is one named person's, written in the same transaction.

Each service owns an ``audit_log`` table in its schema (``create_audit_table`` in a migration; the
migration also installs a trigger that refuses UPDATE and DELETE). Auditors read it through
``qzx_common.web.audit_api.audit_router(schema)``; pass ``admin_code`` (the target's) to ``record``
so that a city auditor sees the changes made in that city.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

if TYPE_CHECKING:
    from qzx_common.web.auth import Principal

REQUEST_ID_LENGTH = 128
CLIENT_ADDRESS_LENGTH = 64


@dataclass(frozen=True)
class AuditContext:
    """Who acts, and from where: built once per request by the service's deps
    (``qzx_common.web.auth.request_audit``), or ``AuditContext.system`` for what a service does on
    its own (consumers, deadline escalation). ``actor`` names a non-person: ``system:<what>``,
    ``exchange:<key_id>``."""

    principal: Principal | None = None
    actor: str | None = None
    request_id: str | None = None
    client_address: str | None = None

    @classmethod
    def system(cls, actor: str) -> AuditContext:
        return cls(actor=actor)

    @property
    def actor_name(self) -> str:
        return self.principal.sub if self.principal else (self.actor or "system")


async def record(
    db: AsyncSession | AsyncConnection,
    *,
    schema: str,
    context: AuditContext,
    action: str,
    target_type: str,
    target_id: str,
    before: Any = None,
    after: Any = None,
    admin_code: str | None = None,
) -> None:
    """Append one audit entry inside the caller's transaction.

    ``context`` names the person (or the system, or the exchange partner) acting.
    ``admin_code`` is the target's jurisdiction (scopes what city auditors see).
    """
    await record_many(
        db,
        schema=schema,
        context=context,
        entries=[AuditEntry(action, target_type, target_id, before, after, admin_code)],
    )


@dataclass(frozen=True)
class AuditEntry:
    """One change for ``record_many``: what was done to which target, in whose jurisdiction."""

    action: str
    target_type: str
    target_id: str
    before: Any = None
    after: Any = None
    admin_code: str | None = None


async def record_many(
    db: AsyncSession | AsyncConnection, *, schema: str, context: AuditContext, entries: Sequence[AuditEntry]
) -> None:
    """``record`` for many changes by the same actor, in one round trip (a consumer's batch)."""
    if not entries:
        return
    principal = context.principal
    who = {
        "actor": context.actor_name,
        "role": principal.role.value if principal else None,
        "unit_id": principal.unit_id if principal else None,
        "jur": principal.jur if principal else None,
        "request_id": context.request_id,
        "client_addr": context.client_address,
    }
    rows = [
        who
        | {
            "action": e.action,
            "target_type": e.target_type,
            "target_id": e.target_id,
            "admin_code": e.admin_code,
            "before": _json(e.before),
            "after": _json(e.after),
        }
        for e in entries
    ]
    await db.execute(
        text(
            f'INSERT INTO "{schema}".audit_log (actor, role, unit_id, jur, action, target_type, target_id, '
            "admin_code, before, after, request_id, client_addr) VALUES (:actor, :role, :unit_id, :jur, :action, "
            ":target_type, :target_id, :admin_code, CAST(:before AS jsonb), CAST(:after AS jsonb), "
            ":request_id, :client_addr)"
        ),
        rows[0] if len(rows) == 1 else rows,  # a list: one executemany round trip
    )


def _json(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    return orjson.dumps(value, default=str).decode()


# Column widths (``widen_audit_columns``): a target id holds the longest id of any service
# and an exchange batch's "<key id (48)>:<nonce (128)>"; jurisdictions and admin codes go down to
# 12-digit village codes.
TARGET_ID_LENGTH = 256
ADMIN_CODE_LENGTH = 12


def widen_audit_columns(schema: str) -> None:
    """Migration step: room for every target id and admin code the services write (widening a
    varchar rewrites no row, so the append-only triggers are not involved)."""
    from alembic import op

    op.execute(
        f'ALTER TABLE "{schema}".audit_log ALTER COLUMN target_id TYPE varchar({TARGET_ID_LENGTH}), '
        f"ALTER COLUMN jur TYPE varchar({ADMIN_CODE_LENGTH}), "
        f"ALTER COLUMN admin_code TYPE varchar({ADMIN_CODE_LENGTH})"
    )


def create_audit_table(schema: str) -> None:
    """Migration step: the audit table, append-only by trigger."""
    import sqlalchemy as sa
    from alembic import op
    from sqlalchemy.dialects.postgresql import JSONB

    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32)),
        sa.Column("unit_id", sa.String(64)),
        sa.Column("jur", sa.String(6)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("target_id", sa.String(128), nullable=False),
        sa.Column("admin_code", sa.String(6)),
        sa.Column("before", JSONB),
        sa.Column("after", JSONB),
        sa.Column("request_id", sa.String(128)),
        sa.Column("client_addr", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        schema=schema,
    )
    op.create_index("ix_audit_log_actor_at", "audit_log", ["actor", "at"], schema=schema)
    op.create_index("ix_audit_log_target", "audit_log", ["target_type", "target_id", "at"], schema=schema)
    # One statement per execute: asyncpg refuses several in one prepared statement.
    op.execute(
        f"""CREATE OR REPLACE FUNCTION "{schema}".audit_log_append_only() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$ LANGUAGE plpgsql"""
    )
    op.execute(
        f"""CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON "{schema}".audit_log
        FOR EACH ROW EXECUTE FUNCTION "{schema}".audit_log_append_only()"""
    )
    op.execute(
        f"""CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON "{schema}".audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION "{schema}".audit_log_append_only()"""
    )
