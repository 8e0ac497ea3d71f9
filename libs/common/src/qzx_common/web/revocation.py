"""The token deny-list, shared by every replica of every service.

A revoked token is a row in ``qzx_auth.revoked_tokens`` (its ``jti`` and the token's own expiry,
after which the row is useless and purged). Every process re-reads the live rows at most every
``jwt_revocation_refresh_s`` seconds (default 5), so a revocation takes effect everywhere within
that time without a restart. The table lives in a small schema of its own because all services
must see the same list; each service chain creates it idempotently (``create_revocation_table``).
Tokens without a ``jti`` cannot be revoked one by one (rotate the key instead); ``qzx token`` and
Keycloak always set one.

A request that finds the list older than the refresh interval waits for the re-read, which gives up
after ``jwt_revocation_timeout_s``. When a read fails (a database outage), requests stop waiting:
they are answered from the last list while it is younger than ``jwt_revocation_max_stale_s``, a new
read is tried in the background at most every refresh interval, and once the list is older than
that they are answered ``503 revocation_list_unavailable`` rather than trusting a list that may
miss revocations.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from qzx_common.web.errors import ApiError

log = logging.getLogger(__name__)

SCHEMA = "qzx_auth"
_LOCK = 0x71A07A17  # advisory lock: service chains creating the shared table at the same time
# Driver errors, pool timeouts, refused or hung connections (OSError includes TimeoutError).
_UNREADABLE = (SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
_UNDEFINED_TABLE = "42P01"


class RevocationUnavailable(ApiError):
    status_code = 503
    code = "revocation_list_unavailable"


class RevocationList:
    def __init__(
        self,
        *,
        engine: Callable[[], AsyncEngine | None],
        refresh_s: float,
        max_stale_s: float,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self.refresh_s = refresh_s
        self.max_stale_s = max(max_stale_s, refresh_s)
        self.timeout_s = timeout_s
        self._clock = clock
        self._revoked: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")
        self._failed_at = float("-inf")
        self._reload: asyncio.Task[None] | None = None

    async def is_revoked(self, jti: str | None) -> bool:
        if self._clock() - self._loaded_at >= self.refresh_s:
            reload = self._start_reload()
            if reload is not None and not self._failing:
                await asyncio.shield(reload)  # never raises; bounded by timeout_s
            if self._clock() - self._loaded_at >= self.max_stale_s:
                raise RevocationUnavailable(
                    "the token deny-list cannot be read (the database is unavailable); retry",
                    headers={"Retry-After": "1"},
                )
        return jti is not None and jti in self._revoked

    @property
    def _failing(self) -> bool:
        """The last read failed: no request waits for the next one."""
        return self._failed_at > self._loaded_at

    def _start_reload(self) -> asyncio.Task[None] | None:
        """The read in flight, or a new one (none within ``refresh_s`` of a failed one)."""
        if self._reload is not None and not self._reload.done():
            return self._reload
        engine = self._engine()
        if engine is None:  # no database yet (an app without its runtime): nothing to read
            self._loaded_at = self._clock()
            return None
        if self._clock() - self._failed_at < self.refresh_s:
            return None
        self._reload = asyncio.create_task(self._load(engine), name="revocation-reload")
        return self._reload

    async def _load(self, engine: AsyncEngine) -> None:
        try:
            async with asyncio.timeout(self.timeout_s), engine.connect() as conn:
                rows = await conn.execute(
                    text(f"SELECT jti FROM {SCHEMA}.revoked_tokens WHERE expires_at > now()")
                )
                revoked = frozenset(r[0] for r in rows)
        except _UNREADABLE as exc:
            if getattr(getattr(exc, "orig", None), "sqlstate", None) != _UNDEFINED_TABLE:
                if not self._failing:  # once per outage
                    log.warning("token deny-list not readable: %r", exc)
                self._failed_at = self._clock()
                return
            revoked = frozenset()  # no chain has created the table yet: nothing is revoked
        self._revoked = revoked
        self._loaded_at = self._clock()


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
