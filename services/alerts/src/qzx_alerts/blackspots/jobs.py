"""Black-spot runs in the background of the process that accepted them; one that a stopped
process left unfinished is marked failed when a process starts (a person runs it again)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from qzx_alerts.blackspots import repository, service

# Longer than any stage takes (a province's year is well under a minute, docs/benchmarks.md).
STALE_AFTER = timedelta(minutes=10)


class BlackspotJobs:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopping = asyncio.Event()

    async def start(self, run_id: str) -> None:
        """Async, so that a request's BackgroundTasks calls it on the loop (a sync one runs in a thread)."""
        task = asyncio.create_task(service.execute(self.engine, run_id), name=f"blackspot-{run_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self) -> None:
        """Beside the service: sweep runs left unfinished, then wait to cancel the live ones."""
        async with self.engine.begin() as conn:
            await repository.fail_stale(conn, older_than=datetime.now(UTC) - STALE_AFTER)
        await self.stopping.wait()
        for task in list(self.tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self.tasks, return_exceptions=True)

    def stop(self) -> None:
        self.stopping.set()
