"""Alert: what alerts publishes on ``alerts.v1`` (key: alert id) and serves over HTTP (docs/contract.md)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class AlertStatus(StrEnum):
    new = "new"
    dispatched = "dispatched"
    signed = "signed"
    resolved = "resolved"
    dismissed = "dismissed"
    escalated = "escalated"


class Priority(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class Factor(BaseModel):
    name: str
    value: float | str | bool | None
    contribution: float
    why: str


class AlertLocation(BaseModel):
    lat: float
    lon: float
    admin_code: str
    road: str | None = None
    km: float | None = None
    device_id: str | None = None


class AlertEvidence(BaseModel):
    """One picture of one of the alert's camera events (its URI and digest, as the event gave them)."""

    event_id: str
    uri: str
    sha256: str | None = None


# An alert carries the evidence of its latest finding's events, at most this many pictures: enough
# for an officer to recognise the vehicle, whoever's camera took them.
EVIDENCE_KEPT = 6


class Alert(BaseModel):
    id: str
    status: AlertStatus
    priority: Priority
    score: float = Field(ge=0, le=100)
    factors: list[Factor]
    violations: list[str]
    plate: str | None
    admin_code: str
    location: AlertLocation
    first_seen: datetime
    last_seen: datetime
    count: int
    event_ids: list[str]
    task_id: str | None = None
    # Extensions beyond the contract's fields (clients ignore what they do not know).
    kind: str = "violation"  # violation | plate_fraud | racing_group | hotlist_hit | accident
    plates: list[str] = Field(default_factory=list)
    sign_deadline_s: int | None = None
    feedback_deadline_s: int | None = None
    version: int = 1
    updated_at: datetime | None = None
    created_at: datetime | None = None
    outcome: str | None = None  # the resolving task's outcome
    dismiss_reason: str | None = None
    rules_version: str | None = None  # the scoring rules that explain ``factors``
    evidence: list[AlertEvidence] = Field(default_factory=list, max_length=EVIDENCE_KEPT)


# A factor ``hotlist`` with this value: the alert is about a plate on a covert hotlist entry (its
# reason and source withheld). A covert checkpoint hit is for commanders only, never a patrol app.
COVERT = "covert"
HOTLIST_HIT = "hotlist_hit"


def covert_hit(kind: str, factors: Iterable[tuple[str, Any]]) -> bool:
    """The one covert rule, over an alert's kind and its factors' (name, value) pairs."""
    return kind == HOTLIST_HIT and any(name == "hotlist" and value == COVERT for name, value in factors)


def is_covert_hit(alert: Alert) -> bool:
    return covert_hit(alert.kind, ((f.name, f.value) for f in alert.factors))
