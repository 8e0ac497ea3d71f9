"""Two batches in flight on two connections: while batch N folds its findings into alerts and
commits, batch N+1 stores its sightings, looks up their history and is scored, so that one batch's
Python overlaps the other's database time.

Batch N+1 cannot see batch N's sightings before N commits, so its lookups add them from memory
(``history.pending``). For that to be exact no commit may land while they run: every commit of a
scoring transaction waits for the lookups in progress (``_gate``). Batch N+1 writes alerts only
after N has committed (the consumer runner applies batches in order), and under the key locks it
reads what N wrote."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from qzx_alerts.hazards.cache import HazardCache
from qzx_alerts.history.pending import Pending
from qzx_alerts.scoring.rules import Rules
from qzx_alerts.scoring.service import (
    BatchResult,
    PreparedBatch,
    ScoredBatch,
    look_up,
    prepare_batch_stepwise,
    score_batch,
    score_found,
    write_scored,
)


@dataclass(slots=True)
class InFlight:
    """A batch scored in a transaction that is still open (``conn``), or only read (``conn`` None:
    its transaction failed, and applying it starts over)."""

    batch: PreparedBatch
    conn: AsyncConnection | None = None
    scored: ScoredBatch | None = None
    pending: Pending | None = None


class ScoringPipeline:
    def __init__(self, *, engine: AsyncEngine, rules: Rules, hazards: HazardCache) -> None:
        self.engine = engine
        self.rules = rules
        self.hazards = hazards
        self._gate = asyncio.Lock()  # held by lookups in progress and by commits
        self._pending: Pending | None = None  # the last batch scored and not yet committed

    async def prepare(self, values: Sequence[bytes | None]) -> InFlight:
        """Read and score a batch in a new transaction, left open for ``apply``."""
        flight = InFlight(await prepare_batch_stepwise(values, self.rules))
        conn = await self.engine.connect()
        try:
            await conn.begin()
            async with self._gate:
                found = await look_up(
                    conn, batch=flight.batch, rules=self.rules, hazards=self.hazards, pending=self._pending
                )
            flight.scored = score_found(found, self.rules)
            flight.pending = self._pending = Pending.of(flight.scored.fresh, flight.scored.passages)
        except BaseException:
            await _discard(conn)
            raise
        flight.conn = conn
        return flight

    async def apply(self, flight: InFlight) -> BatchResult:
        """Write the batch's alerts and commit (batches in the order they were prepared)."""
        conn, flight.conn = flight.conn, None  # a retry starts over in a transaction of its own
        try:
            if conn is None or flight.scored is None:
                conn = await self.engine.connect()
                await conn.begin()
                flight.scored = await score_batch(
                    conn, batch=flight.batch, rules=self.rules, hazards=self.hazards
                )
            result = await write_scored(conn, scored=flight.scored, rules=self.rules)
            async with self._gate:
                await conn.commit()
                if self._pending is flight.pending:
                    self._pending = None
            return result
        finally:
            await _discard(conn)

    async def discard(self, flight: InFlight) -> None:
        """Give up a prepared batch that will not be applied (the consumer is stopping)."""
        conn, flight.conn = flight.conn, None
        await _discard(conn)


async def _discard(conn: AsyncConnection | None) -> None:
    """Close ``conn``, rolling back what it has not committed."""
    if conn is not None:
        await conn.close()
