"""``Idempotency-Key``: the first request's response is stored with the change it made (same
transaction) and replayed for every retry; a concurrent twin waits for the first to finish."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.web.errors import Conflict
from qzx_dispatch.patrol.models import IdempotencyKey


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
