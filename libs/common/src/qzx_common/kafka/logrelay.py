"""Publishing an append-only log table to a topic: the log is its own outbox.

A service that already keeps every message it must publish in a log table (alerts keeps every
alert state for its SSE stream) need not write each one a second time to the outbox and delete it
again afterwards. ``LogRelay`` remembers, in a cursor row, the last log id the broker has
acknowledged, and publishes what follows it in id order.

This needs one guarantee from the writers: log ids become visible in commit order (alerts'
writers append under one advisory lock), so that no id below the cursor can still commit.

A crash between the broker's acknowledgement and the cursor update republishes those rows: at
least once on the wire, like the outbox. A row the broker refuses for good is set aside in
``<schema>.dead_letters`` with the reason, and the cursor moves past it. Replicas take turns (the cursor row is locked while a
batch is published; a replica that finds it locked skips the round).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from qzx_common.db import driver_connection
from qzx_common.kafka import deadletter
from qzx_common.kafka.outbox import RELAYED
from qzx_common.kafka.publish import OutboxMessage, publish_setting_aside, set_aside
from qzx_common.metrics import BACKLOG_COUNT_CAP

log = logging.getLogger(__name__)


class LogRelay:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        log_table: str,
        key_column: str,
        value_column: str,
        cursor_table: str,
        schema: str,
        name: str,
        topic: str,
        batch: int = 5000,
        poll_s: float = 0.5,
        gather_s: float = 0.02,
        retention_s: float | None = None,
        prune_every_s: float = 600.0,
    ) -> None:
        """``log_table`` (schema-qualified) has a bigint ``id``; ``cursor_table`` has rows of
        ``(name text primary key, position bigint)``, one of them ``name``; ``schema`` holds the
        dead letters. With ``retention_s``, published rows older than that (by the log's ``at``
        column) are deleted now and then."""
        self.engine = engine
        self.schema = schema
        self.producer = producer
        self.name = name
        self.topic = topic
        self.batch = batch
        self.poll_s = poll_s
        self.gather_s = gather_s
        self.retention_s = retention_s
        self.prune_every_s = prune_every_s
        self._read = (
            f"SELECT id, {key_column}, {value_column} FROM {log_table} WHERE id > $1 ORDER BY id LIMIT $2"
        )
        self._lock = f"SELECT position FROM {cursor_table} WHERE name = $1 FOR UPDATE SKIP LOCKED"
        self._advance = f"UPDATE {cursor_table} SET position = $2 WHERE name = $1"
        self._prune = (
            f"DELETE FROM {log_table} WHERE id <= (SELECT position FROM {cursor_table} WHERE name = $1) "
            "AND at < now() - make_interval(secs => $2)"
        )
        # What waits after the cursor, for ``qzx_common.metrics`` (count capped, the oldest's age).
        self.backlog_sql = (
            f"SELECT (SELECT count(*) FROM (SELECT 1 FROM {log_table} WHERE id > c.position "
            f"LIMIT {BACKLOG_COUNT_CAP}) capped), (SELECT EXTRACT(EPOCH FROM now() - at) FROM {log_table} "
            f"WHERE id > c.position ORDER BY id LIMIT 1) FROM {cursor_table} c WHERE c.name = :name"
        )
        self.stopping = asyncio.Event()
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """Rows were committed: look now rather than at the next poll."""
        self._wakeup.set()

    def stop(self) -> None:
        self.stopping.set()
        self._wakeup.set()

    async def run(self) -> None:
        """Publish until stopped: at once when woken, otherwise every ``poll_s`` (other replicas'
        writes, API writes that do not wake)."""
        loop = asyncio.get_running_loop()
        pruned_at = loop.time()
        while not self.stopping.is_set():
            self._wakeup.clear()
            try:
                sent = await self.relay_once()
                if self.retention_s is not None and loop.time() - pruned_at >= self.prune_every_s:
                    pruned_at = loop.time()
                    await self.prune()
            except Exception:
                log.exception("log relay failed; retrying", extra={"log": self.name})
                sent = 0
                await asyncio.sleep(1.0)
            if sent < self.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.poll_s)
                # Woken by a commit: let the next few commits land too, and publish them together.
                await asyncio.sleep(self.gather_s)
        await self.relay_once()

    async def relay_once(self) -> int:
        """Publish up to ``batch`` rows after the cursor; returns how many."""
        async with self.engine.connect() as conn:
            raw = await driver_connection(conn)
            async with raw.transaction():
                position = await raw.fetchval(self._lock, self.name)
                if position is None:  # another replica is publishing (or the cursor row is missing)
                    return 0
                rows = await raw.fetch(self._read, position, self.batch)
                if not rows:
                    return 0
                messages = [OutboxMessage(self.topic, r[2], _bytes(r[1])) for r in rows]
                refused = await publish_setting_aside(self.producer, messages)
                await deadletter.store(
                    conn,
                    schema=self.schema,
                    letters=[
                        set_aside(messages[i], why, row_id=rows[i][0], relay=self.name) for i, why in refused
                    ],
                )
                await raw.execute(self._advance, self.name, rows[-1][0])
        RELAYED.labels(self.topic).inc(len(rows))
        return len(rows)

    async def prune(self) -> int:
        """Delete published rows older than the retention; returns how many."""
        async with self.engine.begin() as conn:
            raw = await driver_connection(conn)
            status = await raw.execute(self._prune, self.name, float(self.retention_s or 0))
        return int(status.rsplit(" ", 1)[-1])


def _bytes(key: str | bytes | None) -> bytes | None:
    return key.encode() if isinstance(key, str) else key
