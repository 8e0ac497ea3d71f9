"""The closed loop's clock: missed sign-by → next best unit and escalation; missed feedback →
escalation; pending alerts → another try; a P1 waiting too long → escalation. One short transaction per item, rows taken with
``SKIP LOCKED`` so several replicas share the work."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qzx_common.contracts.alerts import Alert
from qzx_common.contracts.escalations import EscalationKind
from qzx_common.db import transaction
from qzx_dispatch.clock import Clock
from qzx_dispatch.escalations import service as escalations
from qzx_dispatch.settings import DispatchSettings
from qzx_dispatch.tasks import events, intake, pending, repository, service
from qzx_dispatch.tasks.models import TaskRow

log = logging.getLogger(__name__)

PER_TICK = 200


class DeadlineWatcher:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        settings: DispatchSettings,
        clock: Clock,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.on_change = on_change
        self.stopping = asyncio.Event()

    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> None:
        while not self.stopping.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("deadline watcher tick failed")
            try:
                await asyncio.wait_for(self.stopping.wait(), timeout=self.settings.deadline_tick_s)
            except TimeoutError:
                pass

    async def tick(self) -> Counter[str]:
        """One pass over everything due at ``clock.now()``."""
        now = self.clock.now()
        done: Counter[str] = Counter()
        for name, step in (
            ("sign_by", self._sign_by),
            ("feedback_by", self._feedback_by),
            ("pending", self._pending),
            ("p1_waiting", self._p1_waiting),
        ):
            for _ in range(PER_TICK):
                async with transaction(self.sessions) as s:
                    outcome = await step(s, now)
                if outcome is None:
                    break
                done[f"{name}:{outcome}"] += 1
        if done:
            self.on_change()
        return done

    async def _sign_by(self, s: AsyncSession, now: datetime) -> str | None:
        tasks = await repository.missed_sign_by(s, now=now, limit=1)
        if not tasks:
            return None
        task = tasks[0]
        reason = f"sign-by missed by unit {task.unit_id}"
        alert_row = await repository.get_alert(s, task.alert_id)
        result = service.Assignment(None, "the alert is unknown to dispatch")
        if alert_row is not None:
            alert = Alert.model_validate(alert_row.payload)
            result = await service.reassign(
                s, task=task, alert=alert, reason=reason, settings=self.settings, now=now, escalate=True
            )
        await escalations.task_missed(
            s, kind=EscalationKind.sign_missed, task=task, reason=reason, now=now, settings=self.settings
        )
        if result.task is not None:
            await self._audit(s, "task.escalate_reassign", result.task, before=task)
            return "reassigned"
        # Nobody else can take it: it stays with the unit, escalated, with another sign-by period.
        period = task.sign_by - task.created_at
        task.escalated = True
        task.reason = f"{reason}; no other unit: {result.reason}"
        task.sign_by = now + period
        await events.changed(s, task, now=now, settings=self.settings)
        await self._audit(s, "task.escalate", task)
        return "escalated_in_place"

    async def _feedback_by(self, s: AsyncSession, now: datetime) -> str | None:
        tasks = await repository.missed_feedback(s, now=now, limit=1)
        if not tasks:
            return None
        task = tasks[0]
        task.escalated = True
        task.reason = f"feedback-by missed by unit {task.unit_id}"
        await events.changed(s, task, now=now, settings=self.settings)
        await escalations.task_missed(
            s,
            kind=EscalationKind.feedback_missed,
            task=task,
            reason=task.reason,
            now=now,
            settings=self.settings,
        )
        await self._audit(s, "task.escalate", task)
        return "escalated"

    async def _pending(self, s: AsyncSession, now: datetime) -> str | None:
        rows = await repository.due_pending(s, now=now, limit=1)
        if not rows:
            return None
        row = rows[0]
        alert = Alert.model_validate(row.payload)
        if alert.status.value != "new":
            row.state = "closed" if alert.status.value in intake.CLOSED else "handled"
            return "dropped"
        return await intake.try_assign(s, row=row, alert=alert, settings=self.settings, now=now)

    async def _p1_waiting(self, s: AsyncSession, now: datetime) -> str | None:
        wait = timedelta(seconds=self.settings.escalate_p1_wait_s)
        rows = await pending.overdue_p1(s, now=now, wait=wait, limit=1)
        if not rows:
            return None
        row = rows[0]
        row.wait_escalated_at = now
        waited = (now - (row.requeued_at or row.first_seen)).total_seconds()
        await escalations.raise_escalation(
            s,
            kind=EscalationKind.p1_waiting,
            alert_id=row.alert_id,
            priority=row.priority,
            admin_code=row.admin_code,
            reason=f"P1 waiting {waited:.0f} s for a unit: {row.last_reason or 'no unit yet'}",
            now=now,
            settings=self.settings,
        )
        return "escalated"

    async def _audit(
        self, s: AsyncSession, action: str, task: TaskRow, before: TaskRow | None = None
    ) -> None:
        await service.record_system(
            s,
            actor="system:deadline-watcher",
            action=action,
            task=task,
            before={"task_id": before.id, "unit_id": before.unit_id} if before is not None else None,
        )
