"""Kafka → one transaction per batch → offsets committed by the runner afterwards; the change relay
is woken to publish what the batch appended to the change log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import ConsumerRecord

from qzx_alerts.alerts.lifecycle import apply_task_batch
from qzx_alerts.db import SCHEMA
from qzx_alerts.hazards.cache import HazardCache
from qzx_alerts.scoring.rules import Rules
from qzx_alerts.scoring.service import PreparedBatch, apply_prepared, prepare_batch_stepwise
from qzx_common.kafka.logrelay import LogRelay
from qzx_common.runtime import Runtime
from qzx_common.topics import ALERTS

VIOLATIONS_GROUP = "qzx-alerts"
TASKS_GROUP = "qzx-alerts-tasks"


@dataclass
class Scoring:
    """What the scoring consumer needs besides the runtime (built in the lifespan)."""

    rules: Rules
    hazards: HazardCache


def violations_preparer(scoring: Scoring):
    """Reads and pre-scores a batch while the previous one is in the database (the runner's
    prepare step)."""

    async def prepare(records: Sequence[ConsumerRecord]) -> PreparedBatch:
        return await prepare_batch_stepwise([r.value for r in records], scoring.rules)

    return prepare


def violations_handler(rt: Runtime, scoring: Scoring, published: LogRelay):
    async def handle(batch: PreparedBatch) -> None:
        async with rt.engine.begin() as conn:
            await apply_prepared(conn, batch=batch, rules=scoring.rules, hazards=scoring.hazards)
        published.wake()

    return handle


def tasks_handler(rt: Runtime, published: LogRelay):
    async def handle(records: Sequence[ConsumerRecord]) -> None:
        async with rt.engine.begin() as conn:
            await apply_task_batch(conn, values=[r.value for r in records])
        published.wake()

    return handle


def change_relay(rt: Runtime, *, retention_s: float) -> LogRelay:
    """Publishes the change log to alerts.v1 (the log is its outbox: see migration alerts_0006)."""
    return LogRelay(
        engine=rt.engine,
        producer=rt.producer,
        log_table=f"{SCHEMA}.alert_changes",
        key_column="alert_id",
        value_column="payload",
        cursor_table=f"{SCHEMA}.log_cursors",
        name=ALERTS,
        topic=rt.settings.topic(ALERTS),
        retention_s=retention_s,
    )
