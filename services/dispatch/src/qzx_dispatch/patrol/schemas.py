from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from qzx_common.contracts.alerts import AlertEvidence, Factor
from qzx_common.contracts.geo import LAT_MAX, LAT_MIN, LON_MAX, LON_MIN
from qzx_common.contracts.tasks import Outcome, Task

ALERT_EVENTS_SHOWN = 3  # the phone shows the latest events' evidence, not an alert's whole history


class AlertFacts(BaseModel):
    """What the officer is told of the task's alert (its latest version dispatch has): why it
    scored (the factors), its latest camera events and their pictures. The pictures come with the
    alert, not from ingest: the task is the officer's reason to see them, wherever the camera is."""

    plate: str | None = None
    violations: list[str] = Field(default_factory=list)
    factors: list[Factor] = Field(default_factory=list)
    event_ids: list[str] = Field(default_factory=list, description="the latest few, newest last")
    evidence: list[AlertEvidence] = Field(default_factory=list, description="the latest events' pictures")


class PatrolTask(Task):
    alert: AlertFacts | None = Field(default=None, description="absent when dispatch no longer has the alert")


class PatrolTasks(BaseModel):
    tasks: list[PatrolTask]
    cursor: int


class StatusRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["en_route", "on_scene"]


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    note: str | None = Field(default=None, max_length=2000)


class LocationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=LAT_MIN, le=LAT_MAX)
    lon: float = Field(ge=LON_MIN, le=LON_MAX)
    at: AwareDatetime


class LocationResult(BaseModel):
    unit_id: str
    lat: float
    lon: float
    at: datetime
    applied: bool = Field(description="false when a newer position was already stored")
