"""The periodic overdue check: hazards past their deadline and not rectified escalate (挂牌督办)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qzx_alerts.hazards.service import escalate_overdue

log = logging.getLogger(__name__)


async def check_once(sessions: async_sessionmaker[AsyncSession], *, now: datetime | None = None) -> list[str]:
    async with sessions() as session, session.begin():
        return await escalate_overdue(session, now=now or datetime.now(UTC))


async def check_periodically(
    sessions: async_sessionmaker[AsyncSession], *, every_s: float, stopping: asyncio.Event
) -> None:
    """Until ``stopping``: a failed check is logged and tried again at the next turn."""
    while not stopping.is_set():
        try:
            if escalated := await check_once(sessions):
                log.info("hazards escalated past their deadline", extra={"hazards": escalated})
        except Exception:
            log.exception("the hazard overdue check failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=every_s)
