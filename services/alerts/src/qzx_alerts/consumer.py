"""Kafka → one transaction per batch → offsets committed by the runner afterwards."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import ConsumerRecord

from qzx_alerts.alerts.lifecycle import apply_task_batch
from qzx_alerts.hazards.cache import HazardCache
from qzx_alerts.scoring.rules import Rules
from qzx_alerts.scoring.service import apply_violation_batch
from qzx_common.runtime import Runtime

VIOLATIONS_GROUP = "qzx-alerts"
TASKS_GROUP = "qzx-alerts-tasks"


@dataclass
class Scoring:
    """What the scoring consumer needs besides the runtime (built in the lifespan)."""

    rules: Rules
    hazards: HazardCache


def violations_handler(rt: Runtime, scoring: Scoring):
    async def handle(records: Sequence[ConsumerRecord]) -> None:
        async with rt.engine.begin() as conn:
            await apply_violation_batch(
                conn,
                values=[r.value for r in records],
                rules=scoring.rules,
                hazards=scoring.hazards,
                topic_prefix=rt.settings.topic_prefix,
            )
        rt.relay.wake()

    return handle


def tasks_handler(rt: Runtime):
    async def handle(records: Sequence[ConsumerRecord]) -> None:
        async with rt.engine.begin() as conn:
            await apply_task_batch(
                conn, values=[r.value for r in records], topic_prefix=rt.settings.topic_prefix
            )
        rt.relay.wake()

    return handle
