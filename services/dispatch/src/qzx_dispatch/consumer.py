"""alerts.v1 → intake, one transaction per consumed batch, then (the runner) commit its offsets.

A value that is not an Alert is handed to the runner as rejected (``RecordsRejected``): it is
dead-lettered and the batch goes on. An intake that fails raises: the runner retries what is
transient and splits the batch until a record that fails alone is dead-lettered."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiokafka import ConsumerRecord
from prometheus_client import Counter
from pydantic import ValidationError

from qzx_common.contracts.alerts import Alert
from qzx_common.contracts.events import describe_error
from qzx_common.db import transaction
from qzx_common.kafka.runner import BatchHandler, RecordsRejected
from qzx_common.runtime import Runtime
from qzx_common.topics import DISPATCH_ACCIDENTS_GROUP, DISPATCH_GROUP
from qzx_dispatch.clock import Clock
from qzx_dispatch.settings import DispatchSettings
from qzx_dispatch.shifts import accidents
from qzx_dispatch.tasks.intake_batch import intake_batch

log = logging.getLogger(__name__)

GROUP = DISPATCH_GROUP
ACCIDENTS_GROUP = DISPATCH_ACCIDENTS_GROUP
INTAKE = Counter("qzx_dispatch_alerts_total", "Alert versions consumed, by outcome", ["outcome"])


def latest_versions(records: Sequence[ConsumerRecord]) -> list[Alert]:
    """The latest version of each alert in the batch; raises ``RecordsRejected`` for the values
    that are not Alerts."""
    latest: dict[str, Alert] = {}
    rejected: dict[int, str] = {}
    for position, r in enumerate(records):
        try:
            alert = Alert.model_validate_json(r.value or b"")
        except ValidationError as exc:
            INTAKE.labels("invalid").inc()
            rejected[position] = f"not an Alert: {describe_error(exc)}"
            continue
        known = latest.get(alert.id)
        if known is None or known.version < alert.version:
            latest[alert.id] = alert
    if rejected:
        raise RecordsRejected(rejected)
    return list(latest.values())


def alerts_handler(rt: Runtime, *, settings: DispatchSettings, clock: Clock) -> BatchHandler:
    async def handle(records: Sequence[ConsumerRecord]) -> None:
        # One transaction per batch (``intake_batch``): the batch's tasks are committed, and their
        # units' long-polls woken, together. A redelivered batch is harmless: versions already
        # applied are "stale". A failure rolls the whole batch back, and the runner retries it or
        # splits it down to the record that fails alone.
        alerts = latest_versions(records)
        try:
            async with transaction(rt.sessions) as session:
                outcomes = await intake_batch(session, alerts=alerts, settings=settings, now=clock.now())
        except Exception:
            INTAKE.labels("failed").inc(len(alerts))
            log.warning("alert batch intake failed", extra={"alerts": len(alerts)}, exc_info=True)
            raise
        for outcome, n in outcomes.items():
            INTAKE.labels(outcome).inc(n)
        rt.relay.wake()

    return handle


def accidents_handler(rt: Runtime) -> BatchHandler:
    """accidents.accepted.v1 → the planner's accident layer (one transaction per batch)."""

    async def handle(records: Sequence[ConsumerRecord]) -> None:
        reports = accidents.read_reports([r.value for r in records])
        async with transaction(rt.sessions) as session:
            await accidents.store(session, reports)

    return handle
