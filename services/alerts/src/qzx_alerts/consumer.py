"""Kafka → one transaction per batch → offsets committed by the runner afterwards; the change relay
is woken to publish what the batch appended to the change log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import ConsumerRecord

from qzx_alerts.accidents.service import apply_accidents, read_reports
from qzx_alerts.alerts.lifecycle import apply_task_batch
from qzx_alerts.blackspots import cells
from qzx_alerts.db import SCHEMA
from qzx_alerts.hazards.cache import HazardCache
from qzx_alerts.scoring.pipeline import InFlight, ScoringPipeline
from qzx_alerts.scoring.rules import Rules
from qzx_common.kafka.logrelay import LogRelay
from qzx_common.kafka.runner import BatchHandler
from qzx_common.runtime import Runtime
from qzx_common.topics import (
    ACCIDENTS_ACCEPTED,
    ALERTS,
    ALERTS_ACCIDENTS_GROUP,
    ALERTS_GROUP,
    ALERTS_TASKS_GROUP,
    VIOLATIONS_ACCEPTED,
)

VIOLATIONS_GROUP = ALERTS_GROUP
TASKS_GROUP = ALERTS_TASKS_GROUP
ACCIDENTS_GROUP = ALERTS_ACCIDENTS_GROUP


@dataclass
class Scoring:
    """What the scoring consumer needs besides the runtime (built in the lifespan)."""

    rules: Rules
    hazards: HazardCache


def consume_violations(rt: Runtime, scoring: Scoring, published: LogRelay) -> None:
    """Score violations.accepted.v1, two batches in flight (scoring.pipeline): one is read and
    scored while the one before writes its alerts and commits."""
    pipeline = ScoringPipeline(engine=rt.engine, rules=scoring.rules, hazards=scoring.hazards)

    async def prepare(records: Sequence[ConsumerRecord]) -> InFlight:
        return await pipeline.prepare([r.value for r in records])

    async def handle(flight: InFlight) -> None:
        await pipeline.apply(flight)
        published.wake()

    rt.consume(
        topics=[VIOLATIONS_ACCEPTED],
        group=VIOLATIONS_GROUP,
        handle=handle,
        prepare=prepare,
        discard=pipeline.discard,
    )


def tasks_handler(rt: Runtime, published: LogRelay) -> BatchHandler:
    async def handle(records: Sequence[ConsumerRecord]) -> None:
        async with rt.engine.begin() as conn:
            await apply_task_batch(conn, values=[r.value for r in records])
        published.wake()

    return handle


def consume_accidents(rt: Runtime, rules: Rules, published: LogRelay) -> None:
    """accidents.accepted.v1 → P1 alerts of kind ``accident`` (qzx_alerts.accidents)."""

    async def prepare(records: Sequence[ConsumerRecord]) -> list[Any]:
        return read_reports([r.value for r in records])

    async def handle(reports: list[Any]) -> None:
        async with rt.engine.begin() as conn:
            await apply_accidents(conn, reports=reports, rules=rules)
        published.wake()

    rt.consume(topics=[ACCIDENTS_ACCEPTED], group=ACCIDENTS_GROUP, handle=handle, prepare=prepare)


def consume_violation_cells(rt: Runtime) -> None:
    """violations.accepted.v1 → violations per cell and day (black spots), in a group of its own."""

    async def handle(records: Sequence[ConsumerRecord]) -> None:
        async with rt.engine.begin() as conn:
            await cells.apply(conn, records)

    rt.consume(topics=[VIOLATIONS_ACCEPTED], group=cells.GROUP, handle=handle)


def change_relay(rt: Runtime, *, retention_s: float) -> LogRelay:
    """Publishes the change log to alerts.v1 (the log is its outbox: see migration alerts_0006)."""
    return LogRelay(
        engine=rt.engine,
        producer=rt.producer,
        log_table=f"{SCHEMA}.alert_changes",
        key_column="alert_id",
        value_column="payload",
        cursor_table=f"{SCHEMA}.log_cursors",
        schema=SCHEMA,
        name=ALERTS,
        topic=rt.settings.topic(ALERTS),
        retention_s=retention_s,
    )
