"""A service's periodic work beside its consumers (the hazards' overdue check, the report
rollups' fold): one loop, so that each job says only what it does."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def every(
    seconds: float, work: Callable[[], Awaitable[object]], *, stopping: asyncio.Event, failed: str
) -> None:
    """Until ``stopping``: ``work()``, then wait ``seconds``. A failure is logged as ``failed`` and
    the work tried again at the next turn."""
    while not stopping.is_set():
        try:
            await work()
        except Exception:
            log.exception(failed)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=seconds)
