"""Raising an escalation: stored as a task event, published through the outbox on
``dispatch.escalations.v1`` (consoles and gateways read it live), and queued for the webhook,
and announced to the escalation streams, all in the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common import serde
from qzx_common.contracts.alerts import Priority
from qzx_common.contracts.escalations import Escalation, EscalationKind
from qzx_common.topics import DISPATCH_ESCALATIONS
from qzx_dispatch.db import SCHEMA
from qzx_dispatch.escalations import stream
from qzx_dispatch.escalations.models import WebhookDelivery
from qzx_dispatch.settings import DispatchSettings
from qzx_dispatch.tasks import history
from qzx_dispatch.tasks.models import TaskRow

_OUTBOX = text(f"INSERT INTO {SCHEMA}.outbox (topic, key, value) VALUES (:topic, :key, :value)")


async def raise_escalation(
    session: AsyncSession,
    *,
    kind: EscalationKind,
    alert_id: str,
    priority: str,
    admin_code: str,
    reason: str,
    now: datetime,
    settings: DispatchSettings,
    task_id: str | None = None,
    unit_id: str | None = None,
) -> Escalation:
    event = await history.add(
        session,
        kind=kind.value,
        alert_id=alert_id,
        task_id=task_id,
        priority=priority,
        reason=reason,
        admin_code=admin_code,
        now=now,
        detail={"unit_id": unit_id} if unit_id else None,
    )
    escalation = Escalation(
        id=event.id,
        kind=kind,
        alert_id=alert_id,
        task_id=task_id,
        unit_id=unit_id,
        priority=Priority(priority),
        admin_code=admin_code,
        reason=reason,
        at=now,
    )
    await session.execute(
        _OUTBOX,
        {
            "topic": settings.topic(DISPATCH_ESCALATIONS),
            "key": alert_id.encode(),
            "value": serde.dumps(escalation),
        },
    )
    await stream.announce(session)
    if settings.escalation_webhook_url:
        session.add(
            WebhookDelivery(
                id="W" + uuid.uuid4().hex,
                event_id=event.id,
                body=escalation.model_dump(mode="json"),
                state="pending",
                attempts=0,
                next_try_at=now,
                created_at=now,
            )
        )
    return escalation


async def task_missed(
    session: AsyncSession,
    *,
    kind: EscalationKind,
    task: TaskRow,
    reason: str,
    now: datetime,
    settings: DispatchSettings,
) -> Escalation:
    return await raise_escalation(
        session,
        kind=kind,
        alert_id=task.alert_id,
        task_id=task.id,
        unit_id=task.unit_id,
        priority=task.priority,
        admin_code=task.target_admin_code,
        reason=reason,
        now=now,
        settings=settings,
    )
