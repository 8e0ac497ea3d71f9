"""The token deny-list, shared by every replica of every service.

A revoked token is a row in ``qzx_auth.revoked_tokens`` (its ``jti`` and the token's own expiry,
after which the row is useless and purged). Every process re-reads the live rows at most every
``jwt_revocation_refresh_s`` seconds (default 5), so a revocation takes effect everywhere within
that time without a restart. The table lives in a small schema of its own because all services
must see the same list; each service chain creates it idempotently (``create_revocation_table``).
Tokens without a ``jti`` cannot be revoked one by one (rotate the key instead); ``qzx token`` and
Keycloak always set one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

SCHEMA = "qzx_auth"
_LOCK = 0x71A07A17  # advisory lock: service chains creating the shared table at the same time


class RevocationList:
    def __init__(self, *, engine: Callable[[], AsyncEngine | None], refresh_s: float) -> None:
        self._engine = engine
        self.refresh_s = refresh_s
        self._revoked: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()
        self._warned = False

    async def is_revoked(self, jti: str | None) -> bool:
        if time.monotonic() - self._loaded_at >= self.refresh_s:
            await self._reload()
        return jti is not None and jti in self._revoked

    async def _reload(self) -> None:
        async with self._lock:
            if time.monotonic() - self._loaded_at < self.refresh_s:
                return  # another request reloaded while we waited
            engine = self._engine()
            if engine is None:
                return
            try:
                async with engine.connect() as conn:
                    rows = await conn.execute(
                        text(f"SELECT jti FROM {SCHEMA}.revoked_tokens WHERE expires_at > now()")
                    )
                    self._revoked = frozenset(r[0] for r in rows)
            except DBAPIError as exc:
                # Keep the last known list; a missing table means no chain has created it yet.
                if not self._warned:
                    log.warning("token deny-list not readable: %s", exc.orig)
                    self._warned = True
            self._loaded_at = time.monotonic()


async def revoke(
    conn: AsyncConnection, *, jti: str, expires_at: datetime, by: str, reason: str | None = None
) -> None:
    """Deny ``jti`` until ``expires_at`` (the token's ``exp``); purges rows that have expired."""
    await conn.execute(text(f"DELETE FROM {SCHEMA}.revoked_tokens WHERE expires_at <= now()"))
    await conn.execute(
        text(
            f"INSERT INTO {SCHEMA}.revoked_tokens (jti, expires_at, revoked_by, reason) "
            "VALUES (:jti, :exp, :by, :reason) ON CONFLICT (jti) DO NOTHING"
        ),
        {"jti": jti, "exp": expires_at, "by": by, "reason": reason},
    )


def create_revocation_table() -> None:
    """Migration step (any service chain; idempotent): the shared deny-list table."""
    from alembic import op

    op.execute(f"SELECT pg_advisory_xact_lock({_LOCK})")
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    op.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {SCHEMA}.revoked_tokens (
            jti varchar(128) PRIMARY KEY,
            expires_at timestamptz NOT NULL,
            revoked_at timestamptz NOT NULL DEFAULT now(),
            revoked_by varchar(128) NOT NULL,
            reason text
        )
        """
    )
