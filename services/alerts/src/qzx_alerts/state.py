"""What the alerts lifespan builds, typed; routers reach it through ``deps``."""

from __future__ import annotations

from dataclasses import dataclass

from qzx_alerts.alerts.stream import ChangeTail
from qzx_alerts.blackspots.jobs import BlackspotJobs
from qzx_alerts.consumer import Scoring
from qzx_alerts.divisions.reference import Divisions
from qzx_alerts.scoring.rules import Rules
from qzx_alerts.settings import AlertsSettings
from qzx_common.kafka.logrelay import LogRelay
from qzx_common.web.capacity import Capacity
from qzx_common.web.service import ServiceState


@dataclass
class AlertsState(ServiceState):
    settings: AlertsSettings
    rules: Rules
    scoring: Scoring
    change_tail: ChangeTail
    change_relay: LogRelay
    sse_streams: Capacity  # held console streams (QZX_SSE_MAX_STREAMS)
    divisions: Divisions  # the province's official division codes and names
    blackspot_jobs: BlackspotJobs
