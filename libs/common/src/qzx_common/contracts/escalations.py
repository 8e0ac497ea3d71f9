"""Escalation: what dispatch publishes on ``dispatch.escalations.v1`` (key: alert id) and POSTs to
the escalation webhook when a P1 waits too long, a sign-for or a feedback deadline is missed."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from qzx_common.contracts.alerts import Priority


class EscalationKind(StrEnum):
    p1_waiting = "p1_waiting"
    sign_missed = "sign_missed"
    feedback_missed = "feedback_missed"


class Escalation(BaseModel):
    id: str
    kind: EscalationKind
    alert_id: str
    task_id: str | None = None
    unit_id: str | None = None
    priority: Priority
    admin_code: str
    reason: str
    at: datetime
