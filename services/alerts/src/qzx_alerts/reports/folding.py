"""The periodic fold of the report rollups' fresh rows (alerts_0015, alerts_0016): the scoring transactions
only append them, so that two never wait for each other; the fold keeps what reports sum small."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from qzx_alerts.reports.repository import fold_rollups
from qzx_common.db import driver_connection


async def fold_once(engine: AsyncEngine) -> bool:
    async with engine.begin() as conn:
        return await fold_rollups(await driver_connection(conn))
