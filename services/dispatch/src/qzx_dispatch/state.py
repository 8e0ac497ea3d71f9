"""What the dispatch lifespan builds, typed; routers reach it through ``deps``."""

from __future__ import annotations

from dataclasses import dataclass

from qzx_common.web.capacity import Capacity
from qzx_common.web.service import ServiceState
from qzx_dispatch.clock import Clock
from qzx_dispatch.escalations.webhook import WebhookDeliverer
from qzx_dispatch.patrol.notifier import UnitNotifier
from qzx_dispatch.settings import DispatchSettings
from qzx_dispatch.tasks.watcher import DeadlineWatcher


@dataclass
class DispatchState(ServiceState):
    settings: DispatchSettings
    clock: Clock
    notifier: UnitNotifier
    escalation_notifier: UnitNotifier  # wakes the escalation streams (escalations.stream)
    watcher: DeadlineWatcher
    webhook: WebhookDeliverer  # escalation webhook deliveries (tests drive ``deliver_due``)
    long_polls: Capacity  # held patrol long-polls and escalation streams (QZX_LONG_POLL_MAX_HELD)
