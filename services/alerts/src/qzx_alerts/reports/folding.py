"""The periodic fold of the report rollups' fresh rows (alerts_0015): the scoring transactions
only append them, so that two never wait for each other; the fold keeps what reports sum small."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from qzx_alerts.reports.repository import fold_rollups
from qzx_common.db import driver_connection

log = logging.getLogger(__name__)


async def fold_once(engine: AsyncEngine) -> bool:
    async with engine.begin() as conn:
        return await fold_rollups(await driver_connection(conn))


async def fold_periodically(engine: AsyncEngine, *, every_s: float, stopping: asyncio.Event) -> None:
    """Until ``stopping``: a failed fold is logged and tried again at the next turn."""
    while not stopping.is_set():
        try:
            await fold_once(engine)
        except Exception:
            log.exception("folding the report rollups failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=every_s)
