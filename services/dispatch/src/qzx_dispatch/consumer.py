"""alerts.v1 → intake, one transaction per alert, then (the runner) commit the batch's offsets."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiokafka import ConsumerRecord
from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from qzx_common.contracts.alerts import Alert
from qzx_common.db import transaction
from qzx_common.runtime import Runtime
from qzx_dispatch.clock import Clock
from qzx_dispatch.settings import DispatchSettings
from qzx_dispatch.tasks.intake import intake

log = logging.getLogger(__name__)

GROUP = "qzx-dispatch"
INTAKE = Counter("qzx_dispatch_alerts_total", "Alert versions consumed, by outcome", ["outcome"])


def latest_versions(records: Sequence[ConsumerRecord]) -> list[Alert]:
    latest: dict[str, Alert] = {}
    for r in records:
        try:
            alert = Alert.model_validate_json(r.value)
        except ValidationError as exc:
            INTAKE.labels("invalid").inc()
            log.warning("unreadable alert skipped", extra={"offset": r.offset, "error": str(exc)[:300]})
            continue
        known = latest.get(alert.id)
        if known is None or known.version < alert.version:
            latest[alert.id] = alert
    return list(latest.values())


def alerts_handler(rt: Runtime, *, settings: DispatchSettings, clock: Clock):
    async def handle(records: Sequence[ConsumerRecord]) -> None:
        # One transaction per alert: each task is committed (and its unit's long-poll woken) as soon
        # as it is made. A redelivered batch is harmless: versions already applied are "stale".
        for alert in latest_versions(records):
            try:
                async with transaction(rt.sessions) as session:
                    outcome = await intake(session, alert=alert, settings=settings, now=clock.now())
            except DBAPIError:
                raise  # the database is in trouble: the runner retries the batch
            except Exception:
                # A bug with one alert must not stall the partition; it is logged and counted.
                log.exception("alert intake failed", extra={"alert_id": alert.id})
                outcome = "failed"
            INTAKE.labels(outcome).inc()
            rt.relay.wake()

    return handle
