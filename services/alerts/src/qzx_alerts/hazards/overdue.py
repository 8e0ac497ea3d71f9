"""The periodic overdue check: hazards past their deadline and not rectified escalate (挂牌督办)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qzx_alerts.hazards.service import escalate_overdue
from qzx_common.periodic import every

log = logging.getLogger(__name__)


async def check_once(sessions: async_sessionmaker[AsyncSession], *, now: datetime | None = None) -> list[str]:
    async with sessions() as session, session.begin():
        return await escalate_overdue(session, now=now or datetime.now(UTC))


async def check_periodically(
    sessions: async_sessionmaker[AsyncSession], *, every_s: float, stopping: asyncio.Event
) -> None:
    """Until ``stopping``: a failed check is logged and tried again at the next turn."""

    async def check() -> None:
        if escalated := await check_once(sessions):
            log.info("hazards escalated past their deadline", extra={"hazards": escalated})

    await every(every_s, check, stopping=stopping, failed="the hazard overdue check failed")
