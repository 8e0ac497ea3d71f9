"""One unit's patrol app: long-poll for the unit's tasks, and work each new one through
sign → en route → on scene → feedback, reporting positions on the way."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from qzx_common.contracts.tasks import ACTIVE_STATUSES, Task, TaskStatus
from qzx_dev.patrol_sim.api import Backoff, DispatchApi, DutyUnit, Refused, Unavailable, sleep_or_stop
from qzx_dev.patrol_sim.behaviour import Plan, destination, plan_for, steps_for, travel_s, waypoints
from qzx_dev.patrol_sim.config import SimConfig
from qzx_dev.patrol_sim.stats import Stats

log = logging.getLogger("qzx_dev.patrol_sim")

# The steps of the loop in order; a task met mid-way (a restarted simulator) resumes after its status.
STEPS = ("sign", "en_route", "on_scene", "feedback")
RESUME_AT = {TaskStatus.assigned: 0, TaskStatus.signed: 1, TaskStatus.en_route: 2, TaskStatus.on_scene: 3}
DEFAULT_SIGN_WINDOW_S = 60.0
MAX_WAYPOINTS = 40
ACTION_GIVE_UP_AFTER = 200  # failed tries (~30 min at the back-off cap) before a step is abandoned
RETRY_CAP_S = 10.0  # back-off cap: a restarted dispatch is found again within seconds
TAKEN_AWAY = frozenset({TaskStatus.reassigned, TaskStatus.cancelled})


class UnitClient:
    def __init__(
        self, unit: DutyUnit, *, api: DispatchApi, config: SimConfig, stats: Stats, stop: asyncio.Event
    ) -> None:
        self.unit, self.api, self.config, self.stats, self.stop = unit, api, config, stats, stop
        self.who = unit.identity
        self.position = (unit.lat, unit.lon)
        self.handlers: dict[str, asyncio.Task[None]] = {}
        self.decided: set[str] = set()  # tasks already taken up or ignored: never handled twice
        self.ignored: dict[str, Plan] = {}  # left unsigned and still ours
        self.location_failures = 0

    @property
    def busy(self) -> bool:
        return bool(self.handlers)

    async def run(self) -> None:
        """Long-poll until cancelled or stopped; returns early when dispatch does not know the unit."""
        await self.report_position()
        cursor = 0
        backoff = Backoff(cap=RETRY_CAP_S)
        try:
            while not self.stop.is_set():
                try:
                    body = await self.api.call(
                        "GET",
                        "/v1/patrol/tasks",
                        self.who,
                        params={"cursor": cursor, "wait": self.config.wait_s},
                    )
                    cursor = int(body["cursor"])
                    tasks = [Task.model_validate(t) for t in body["tasks"]]
                except Refused as exc:
                    self.stats.errors += 1
                    if exc.status == 404:
                        log.warning(
                            "%s: dispatch does not know this unit (%s); its app stops", self.unit.id, exc
                        )
                        return
                    await self._pause(backoff, f"long-poll refused: {exc}{_hint(exc)}")
                    continue
                except Unavailable as exc:
                    self.stats.errors += 1
                    await self._pause(backoff, f"cannot reach dispatch ({exc})")
                    continue
                except Exception as exc:  # a bad answer must not end the unit's app: log, back off, go on
                    self.stats.errors += 1
                    log.exception("%s: unexpected long-poll failure", self.unit.id)
                    await self._pause(backoff, f"unexpected {type(exc).__name__}")
                    continue
                if backoff.reset():
                    log.info("%s: long-poll working again (cursor %d)", self.unit.id, cursor)
                for task in tasks:
                    self.on_task(task)
        finally:
            await self.close()

    async def close(self) -> None:
        handlers = list(self.handlers.values())
        for h in handlers:
            h.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def _pause(self, backoff: Backoff, why: str) -> None:
        delay = backoff.delay()
        if backoff.should_log():
            log.warning("%s: %s; retry %d in %.1fs", self.unit.id, why, backoff.failures, delay)
        await sleep_or_stop(self.stop, delay)

    def on_task(self, task: Task) -> None:
        """A task changed: take up a new one, drop one that was taken away, ignore the rest."""
        running = self.handlers.get(task.id)
        if running is not None:
            if task.status in TAKEN_AWAY or task.unit_id != self.unit.id:
                self.handlers.pop(task.id, None)
                running.cancel()
                self.stats.lost += 1
                log.info("%s: task %s was %s while we worked on it", self.unit.id, task.id, task.status.value)
            return
        if task.id in self.ignored:
            self._chased(task)
            return
        if task.id in self.decided or task.status not in ACTIVE_STATUSES:
            return  # our own changes coming back, or history from before we started
        self.decided.add(task.id)
        self.stats.seen += 1
        plan = plan_for(
            task.id,
            moving=task.intercept_point is not None,
            seed=self.config.seed,
            ignore_share=self.config.ignore_share,
        )
        if plan.ignore and task.status == TaskStatus.assigned:
            self.stats.ignored += 1
            self.ignored[task.id] = plan
            log.info(
                "%s: leaves task %s (%s) unsigned; sign-by %s will pass",
                self.unit.id,
                task.id,
                task.priority.value,
                _clock(task.sign_by),
            )
            return
        self.start(task, plan)

    def _chased(self, task: Task) -> None:
        """An ignored task escalated in place (no other unit could take it): answer the chase,
        unless this crew ignores that too."""
        if task.status != TaskStatus.assigned or task.unit_id != self.unit.id:
            self.ignored.pop(task.id, None)  # reassigned elsewhere or cancelled: forget it
            return
        plan = self.ignored[task.id]
        if not task.escalated or plan.ignore_chase:
            return
        del self.ignored[task.id]
        log.info(
            "%s: answers the escalation of task %s (sign-by %s)", self.unit.id, task.id, _clock(task.sign_by)
        )
        self.start(task, plan)

    def start(self, task: Task, plan: Plan) -> None:
        handler = asyncio.create_task(self.work(task, plan), name=f"patrol-sim-{task.id}")
        self.handlers[task.id] = handler
        handler.add_done_callback(lambda done: self._finished(task.id, done))

    def _finished(self, task_id: str, done: asyncio.Task[None]) -> None:
        if self.handlers.get(task_id) is done:
            del self.handlers[task_id]
        if not done.cancelled() and (exc := done.exception()) is not None:
            self.stats.errors += 1
            log.error("%s: task %s failed: %r", self.unit.id, task_id, exc)

    async def work(self, task: Task, plan: Plan) -> None:
        for step in STEPS[RESUME_AT[task.status] :]:
            if step == "sign":
                if await sleep_or_stop(self.stop, self._sign_pause(task, plan)):
                    return
            elif step == "en_route":
                if await sleep_or_stop(self.stop, self._within_feedback(task, plan.depart_s, 0.1)):
                    return
            elif step == "on_scene":
                if not await self.drive(task, plan):
                    return
            elif await sleep_or_stop(self.stop, self._within_feedback(task, plan.on_scene_s, 0.8)):
                return
            updated = await self.act(task, step, plan)
            if updated is None:
                return
            task = updated
        self.stats.resolved += 1
        self.stats.outcomes[plan.outcome.value] += 1
        log.info(
            "%s: resolved task %s (%s): %s", self.unit.id, task.id, task.priority.value, plan.outcome.value
        )

    def _sign_pause(self, task: Task, plan: Plan) -> float:
        """A share of the sign window at the simulated pace, always before sign-by in real time."""
        if task.sign_by is None:
            return plan.sign_share * DEFAULT_SIGN_WINDOW_S / self.config.speedup
        now = datetime.now(UTC)
        window = (task.sign_by - (task.created_at or now)).total_seconds()
        remaining = (task.sign_by - now).total_seconds()
        return max(0.0, min(plan.sign_share * window / self.config.speedup, remaining * 0.9))

    def _within_feedback(self, task: Task, simulated_s: float, share: float) -> float:
        """Real seconds for a simulated pause, at most ``share`` of the time left before feedback-by."""
        real = simulated_s / self.config.speedup
        if task.feedback_by is None:
            return real
        left = (task.feedback_by - datetime.now(UTC)).total_seconds()
        return max(0.0, min(real, left * share))

    async def drive(self, task: Task, plan: Plan) -> bool:
        """Move to the destination, reporting positions on the way; False when stopped."""
        start, end = self.position, destination(task)
        simulated = travel_s(start, end, plan.speed_kmh)
        steps = steps_for(simulated, self.config.location_every_s, MAX_WAYPOINTS)
        per_step = self._within_feedback(task, simulated, 0.5) / steps
        for point in waypoints(start, end, steps):
            if await sleep_or_stop(self.stop, per_step):
                return False
            self.position = point
            await self.report_position()
        return True

    async def act(self, task: Task, step: str, plan: Plan) -> Task | None:
        """POST one step under a stable Idempotency-Key (a retry replays, never repeats); None when
        the task is gone or refused, or the simulator stops."""
        path, body = _request(task.id, step, plan)
        backoff = Backoff(cap=RETRY_CAP_S)
        while not self.stop.is_set():
            try:
                answer: Any = await self.api.call(
                    "POST", path, self.who, json=body, idempotency_key=f"patrol-sim:{task.id}:{step}"
                )
            except Unavailable as exc:
                self.stats.errors += 1
                if backoff.failures + 1 >= ACTION_GIVE_UP_AFTER:
                    self.stats.lost += 1
                    log.error("%s: gave up %s on task %s: %s", self.unit.id, step, task.id, exc)
                    return None
                await self._pause(backoff, f"{step} on task {task.id} failed ({exc}); same Idempotency-Key")
                continue
            except Refused as exc:
                if exc.status == 401 and backoff.failures < 3:  # token re-minted: try once more
                    self.stats.errors += 1
                    await self._pause(backoff, f"{step} on task {task.id} refused: {exc}{_hint(exc)}")
                    continue
                self._refused(task, step, exc)
                return None
            self._count(step)
            log.debug("%s: %s task %s", self.unit.id, step, task.id)
            return Task.model_validate(answer)
        return None

    def _refused(self, task: Task, step: str, exc: Refused) -> None:
        self.stats.lost += 1
        if exc.status in (404, 409):  # reassigned at its deadline, cancelled, or closed meanwhile
            log.info("%s: task %s no longer ours to %s (%s)", self.unit.id, task.id, step, exc)
        else:
            self.stats.errors += 1
            log.warning("%s: %s on task %s refused: %s%s", self.unit.id, step, task.id, exc, _hint(exc))

    def _count(self, step: str) -> None:
        if step == "sign":
            self.stats.signed += 1
        elif step == "en_route":
            self.stats.en_route += 1
        elif step == "on_scene":
            self.stats.on_scene += 1

    async def report_position(self) -> None:
        """Best effort: a lost ping is superseded by the next one, so it is not retried."""
        lat, lon = self.position
        try:
            await self.api.call(
                "POST",
                "/v1/patrol/location",
                self.who,
                json={"lat": round(lat, 6), "lon": round(lon, 6), "at": datetime.now(UTC).isoformat()},
            )
        except (Unavailable, Refused) as exc:
            self.stats.errors += 1
            self.location_failures += 1
            if self.location_failures == 1 or self.location_failures % 100 == 0:
                log.warning("%s: location report failed (%s)", self.unit.id, exc)
            return
        self.location_failures = 0


def _request(task_id: str, step: str, plan: Plan) -> tuple[str, dict[str, Any] | None]:
    base = f"/v1/patrol/tasks/{task_id}"
    if step == "sign":
        return f"{base}/sign", None
    if step == "feedback":
        return f"{base}/feedback", {"outcome": plan.outcome.value, "note": f"patrol-sim: {plan.note}"}
    return f"{base}/status", {"status": step}


def _clock(at: datetime | None) -> str:
    return at.isoformat(timespec="seconds") if at else "?"


def _hint(exc: Refused) -> str:
    if exc.code in ("invalid_signature", "invalid_algorithm"):
        return " (is QZX_JWT_SECRET the secret dispatch uses?)"
    if exc.code == "token_expired":
        return " (token re-minted)"
    return ""
