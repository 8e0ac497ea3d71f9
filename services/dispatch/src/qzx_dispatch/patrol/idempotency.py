"""``Idempotency-Key``: the first request's response is stored with the change it made (same
transaction) and replayed for every retry; a concurrent twin waits for the first to finish. Keys
are kept for a retention period, then pruned."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qzx_common.db import transaction
from qzx_common.web.errors import Conflict
from qzx_dispatch.patrol.models import IdempotencyKey

log = logging.getLogger(__name__)


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b"\n" + path.encode() + b"\n" + body).hexdigest()


async def stored(
    session: AsyncSession, *, unit_id: str, key: str, request_hash: str
) -> IdempotencyKey | None:
    """The earlier response for this key, if any (waits while a twin request holds the key)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"idem:{unit_id}:{key}"})
    row = await session.get(IdempotencyKey, (unit_id, key))
    if row is not None and row.request_hash != request_hash:
        raise Conflict("this Idempotency-Key was used for a different request", code="idempotency_key_reused")
    return row


async def remember(
    session: AsyncSession, *, unit_id: str, key: str, request_hash: str, status_code: int, response: Any
) -> None:
    session.add(
        IdempotencyKey(
            unit_id=unit_id, key=key, request_hash=request_hash, status_code=status_code, response=response
        )
    )
    await session.flush()


async def prune(session: AsyncSession, *, retention: timedelta) -> int:
    """Delete the keys stored more than ``retention`` ago (database time, like ``created_at``)."""
    gone = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < func.now() - retention)
    )
    return cast(CursorResult[Any], gone).rowcount  # a DELETE's result is a cursor result


async def prune_periodically(
    sessions: async_sessionmaker[AsyncSession],
    *,
    retention: timedelta,
    every_s: float,
    stopping: asyncio.Event,
) -> None:
    """Prune now and then every ``every_s`` seconds until ``stopping`` is set. Every replica runs
    this: deleting the same old rows twice is harmless."""
    while not stopping.is_set():
        try:
            async with transaction(sessions) as s:
                gone = await prune(s, retention=retention)
            if gone:
                log.info("pruned idempotency keys", extra={"deleted": gone})
        except Exception:
            log.exception("pruning idempotency keys failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=every_s)
