"""Two batches in flight on two connections: while batch N folds its findings into alerts and
commits, batch N+1 stores its sightings, looks up their history and is scored, so that one batch's
Python overlaps the other's database time.

Batch N+1 cannot see batch N's sightings before N commits, so its lookups add them from memory
(``history.pending``). For that to be exact no commit may land while they run: every commit of a
scoring transaction waits for the lookups in progress (``_gate``). Batch N+1 writes alerts only
after N has committed (the consumer runner applies batches in order), and under the key locks it
reads what N wrote.

A lock that batch N+1 waits for while holding the gate (a row another replica is inserting, say)
could close a cycle that the database cannot see: N waits for the gate to commit, and the other
replica for a key lock N holds. So scoring transactions give up waiting for a lock after
``LOCK_TIMEOUT_S``, and a batch whose preparation failed is scored again when it is applied."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
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
    score_found_stepwise,
    write_scored,
)
from qzx_common.db import driver_connection
from qzx_common.kafka.runner import RecordsRejected

LOCK_TIMEOUT_S = 10
log = logging.getLogger(__name__)


class Transaction:
    """A transaction begun on the driver connection: one BEGIN, where SQLAlchemy's begin costs a
    BEGIN and the SELECT 1 that puts the driver in it (``driver_connection``). The scoring path
    runs on the driver only, so a batch of a few events saves a round trip."""

    def __init__(self, conn: AsyncConnection, driver: asyncpg.Connection) -> None:
        self.conn, self.driver = conn, driver

    @classmethod
    async def begin(cls, engine: AsyncEngine) -> Transaction:
        conn = await engine.connect()
        try:
            driver = await driver_connection(conn)
            await driver.execute(f"BEGIN; SET LOCAL lock_timeout = '{LOCK_TIMEOUT_S}s'")
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
        """Read and score a batch in a new transaction, left open for ``apply``. Raises
        ``RecordsRejected`` for values that cannot be read (the runner dead-letters them)."""
        batch = await prepare_batch_stepwise(values, self.rules)
        if batch.rejected:
            raise RecordsRejected(batch.rejected)
        tx: Transaction | None = None
        try:
            tx = await Transaction.begin(self.engine)
            async with self._gate:
                found = await look_up(
                    tx.conn, batch=batch, rules=self.rules, hazards=self.hazards, pending=self._pending
                )
            scored = await score_found_stepwise(found, self.rules)
        except Exception:
            log.warning("scoring a batch ahead failed; it is scored when applied", exc_info=True)
            if tx is not None:
                await tx.close()
            return InFlight(batch)
        except BaseException:
            if tx is not None:
                await tx.close()
            raise
        self._pending = Pending.of(scored.fresh, scored.passages)
        return InFlight(batch, tx, scored, self._pending)

    async def apply(self, flight: InFlight) -> BatchResult:
        """Write the batch's alerts and commit (batches in the order they were prepared). One whose
        preparation or first attempt failed is scored again here, with no lookups running beside."""
        tx, flight.tx = flight.tx, None  # a retry starts over
        try:
            return await self._write(flight, tx)
        except BaseException:
            self._forget(flight)  # rolled back: lookups must not add its sightings any more
            raise

    async def _write(self, flight: InFlight, tx: Transaction | None) -> BatchResult:
        if tx is None or flight.scored is None:
            async with self._gate:
                tx = await Transaction.begin(self.engine)
                try:
                    scored = await score_batch(
                        tx.conn, batch=flight.batch, rules=self.rules, hazards=self.hazards
                    )
                    result = await write_scored(tx.conn, scored=scored, rules=self.rules)
                    await self._commit(tx, flight)
                finally:
                    await tx.close()
            return result
        try:
            result = await write_scored(tx.conn, scored=flight.scored, rules=self.rules)
            async with self._gate:
                await self._commit(tx, flight)
            return result
        finally:
            await tx.close()

    async def _commit(self, tx: Transaction, flight: InFlight) -> None:
        await tx.commit()
        self._forget(flight)  # lookups now read it from the database

    def _forget(self, flight: InFlight) -> None:
        if self._pending is not None and self._pending is flight.pending:
            self._pending = None

    async def discard(self, flight: InFlight) -> None:
        """Give up a prepared batch that will not be applied (the consumer is stopping, or the batch
        before it failed and it is prepared again)."""
        self._forget(flight)
        tx, flight.tx = flight.tx, None
        if tx is not None:
            await tx.close()
