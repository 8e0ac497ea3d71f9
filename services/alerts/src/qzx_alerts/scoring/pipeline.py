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
from typing import Any

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
from qzx_common.kafka.outbox import driver_connection


class Transaction:
    """A transaction begun on the driver connection: one BEGIN, where SQLAlchemy's begin costs a
    BEGIN and the SELECT 1 that puts the driver in it (``driver_connection``). The scoring path
    runs on the driver only, so a batch of a few events saves a round trip."""

    def __init__(self, conn: AsyncConnection, driver: Any) -> None:
        self.conn, self.driver = conn, driver

    @classmethod
    async def begin(cls, engine: AsyncEngine) -> Transaction:
        conn = await engine.connect()
        try:
            driver = await driver_connection(conn)
            await driver.execute("BEGIN")
        except BaseException:
            await conn.close()
            raise
        return cls(conn, driver)

    async def commit(self) -> None:
        status = await self.driver.execute("COMMIT")
        if status != "COMMIT":  # the server rolled back a transaction that had failed
            raise RuntimeError(f"the transaction was not committed: {status}")

    async def close(self) -> None:
        """Return the connection to the pool, rolling back what was not committed."""
        try:
            if self.driver.is_in_transaction():
                await self.driver.execute("ROLLBACK")
        except Exception:
            await self.conn.invalidate()  # broken, or still busy with a cancelled statement
        finally:
            await self.conn.close()


@dataclass(slots=True)
class InFlight:
    """A batch scored in a transaction that is still open (``tx``), or only read (``tx`` None: its
    transaction failed, and applying it starts over)."""

    batch: PreparedBatch
    tx: Transaction | None = None
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
        tx = await Transaction.begin(self.engine)
        try:
            async with self._gate:
                found = await look_up(
                    tx.conn, batch=flight.batch, rules=self.rules, hazards=self.hazards, pending=self._pending
                )
            flight.scored = score_found(found, self.rules)
            flight.pending = self._pending = Pending.of(flight.scored.fresh, flight.scored.passages)
        except BaseException:
            await tx.close()
            raise
        flight.tx = tx
        return flight

    async def apply(self, flight: InFlight) -> BatchResult:
        """Write the batch's alerts and commit (batches in the order they were prepared)."""
        tx, flight.tx = flight.tx, None  # a retry starts over in a transaction of its own
        if tx is None:
            tx = await Transaction.begin(self.engine)
            flight.scored = None
        try:
            if flight.scored is None:
                flight.scored = await score_batch(
                    tx.conn, batch=flight.batch, rules=self.rules, hazards=self.hazards
                )
            result = await write_scored(tx.conn, scored=flight.scored, rules=self.rules)
            async with self._gate:
                await tx.commit()
                if self._pending is flight.pending:
                    self._pending = None
            return result
        finally:
            await tx.close()

    async def discard(self, flight: InFlight) -> None:
        """Give up a prepared batch that will not be applied (the consumer is stopping)."""
        tx, flight.tx = flight.tx, None
        if tx is not None:
            await tx.close()
