"""The alert lifecycle, driven by dispatch.tasks.v1: new → dispatched → signed → resolved | escalated
(dismissed comes from the console). Task events may arrive repeated or out of order: each task's
state is kept at its highest ``version``, stage times are the earliest reported, and the alert's
status is derived from the set of its tasks, so the result does not depend on arrival order."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from qzx_alerts.alerts.columns import ALERT_COLUMNS
from qzx_alerts.alerts.service import publish
from qzx_alerts.db import SCHEMA
from qzx_common.contracts.events import describe_error
from qzx_common.contracts.tasks import Task, TaskStatus
from qzx_common.db import driver_connection
from qzx_common.kafka.runner import RecordsRejected

log = logging.getLogger(__name__)

ACTIVE = frozenset({"assigned", "signed", "en_route", "on_scene"})
SIGNED = frozenset({"signed", "en_route", "on_scene", "resolved"})


@dataclass(slots=True)
class TaskState:
    task_id: str
    alert_id: str
    unit_id: str | None
    status: str
    version: int
    escalated: bool
    outcome: str | None
    assigned_at: datetime | None
    signed_at: datetime | None
    resolved_at: datetime | None
    escalated_at: datetime | None


def _earliest(*values: datetime | None) -> datetime | None:
    given = [v for v in values if v is not None]
    return min(given) if given else None


def task_state(task: Task, *, received_at: datetime) -> TaskState:
    """One task event as the stage times it proves."""
    at = task.updated_at or received_at
    status = task.status.value
    return TaskState(
        task_id=task.id,
        alert_id=task.alert_id,
        unit_id=task.unit_id,
        status=status,
        version=task.version,
        escalated=task.escalated,
        outcome=task.outcome.value if task.outcome else None,
        assigned_at=task.created_at or at,
        signed_at=at if status in SIGNED else None,
        resolved_at=at if status == TaskStatus.resolved else None,
        escalated_at=at if task.escalated else None,
    )


def fold(a: TaskState, b: TaskState) -> TaskState:
    """Two reports of one task: the higher version's state, the earliest time of each stage."""
    hi = b if b.version > a.version else a
    return TaskState(
        task_id=hi.task_id,
        alert_id=hi.alert_id,
        unit_id=hi.unit_id,
        status=hi.status,
        version=hi.version,
        escalated=hi.escalated,
        outcome=hi.outcome,
        assigned_at=_earliest(a.assigned_at, b.assigned_at),
        signed_at=_earliest(a.signed_at, b.signed_at),
        resolved_at=_earliest(a.resolved_at, b.resolved_at),
        escalated_at=_earliest(a.escalated_at, b.escalated_at),
    )


@dataclass(slots=True, frozen=True)
class Derived:
    status: str
    task_id: str | None
    outcome: str | None
    dispatched_at: datetime | None
    signed_at: datetime | None
    resolved_at: datetime | None
    escalated_at: datetime | None


def derive(tasks: Sequence[TaskState]) -> Derived:
    """An alert's lifecycle state from all its tasks (order-independent)."""
    resolved = [t for t in tasks if t.status == "resolved"]
    active = [t for t in tasks if t.status in ACTIVE]
    current = None
    if resolved:
        status, current = (
            "resolved",
            min(resolved, key=lambda t: t.resolved_at or datetime.max.replace(tzinfo=UTC)),
        )
    elif active:
        current = max(active, key=lambda t: (t.assigned_at or datetime.min.replace(tzinfo=UTC), t.task_id))
        if any(t.escalated for t in active):
            status = "escalated"
        elif current.status in SIGNED:
            status = "signed"
        else:
            status = "dispatched"
    elif any(t.status == "reassigned" for t in tasks):
        status = "dispatched"  # handed to another unit: its new task follows
    else:
        status = "new"  # every task cancelled: back in the queue
    return Derived(
        status=status,
        task_id=current.task_id if current else None,
        outcome=current.outcome if current and status == "resolved" else None,
        dispatched_at=_earliest(*(t.assigned_at for t in tasks)),
        signed_at=_earliest(*(t.signed_at for t in tasks)),
        resolved_at=_earliest(*(t.resolved_at for t in resolved)),
        escalated_at=_earliest(*(t.escalated_at for t in tasks)),
    )


_UPSERT_TASKS = f"""
INSERT INTO {SCHEMA}.alert_tasks AS t
    (task_id, alert_id, unit_id, status, version, escalated, outcome, assigned_at, signed_at, resolved_at,
     escalated_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bool[], $7::text[],
                     $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[])
ORDER BY 1
ON CONFLICT (task_id) DO UPDATE SET
    unit_id = CASE WHEN EXCLUDED.version > t.version THEN EXCLUDED.unit_id ELSE t.unit_id END,
    status = CASE WHEN EXCLUDED.version > t.version THEN EXCLUDED.status ELSE t.status END,
    escalated = CASE WHEN EXCLUDED.version > t.version THEN EXCLUDED.escalated ELSE t.escalated END,
    outcome = CASE WHEN EXCLUDED.version > t.version THEN EXCLUDED.outcome ELSE t.outcome END,
    version = GREATEST(t.version, EXCLUDED.version),
    assigned_at = LEAST(t.assigned_at, EXCLUDED.assigned_at),
    signed_at = LEAST(t.signed_at, EXCLUDED.signed_at),
    resolved_at = LEAST(t.resolved_at, EXCLUDED.resolved_at),
    escalated_at = LEAST(t.escalated_at, EXCLUDED.escalated_at),
    updated_at = now()
"""

_APPLY = f"""
UPDATE {SCHEMA}.alerts a SET status = u.s, task_id = u.t, outcome = u.o, dispatched_at = u.d, signed_at = u.g,
    resolved_at = u.r, escalated_at = u.e, version = a.version + 1, updated_at = now()
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[],
            $7::timestamptz[], $8::timestamptz[]) AS u(id, s, t, o, d, g, r, e)
WHERE a.id = u.id
RETURNING {", ".join("a." + c.strip() for c in ALERT_COLUMNS.split(","))}
"""


def parse_tasks(values: Sequence[bytes | None], *, received_at: datetime) -> list[TaskState]:
    """Parse and fold the batch's task events per task id; raises ``RecordsRejected`` naming the
    values that are not Task messages (the consumer dead-letters them and applies the rest)."""
    folded: dict[str, TaskState] = {}
    rejected: dict[int, str] = {}
    for position, value in enumerate(values):
        try:
            state = task_state(Task.model_validate_json(value or b""), received_at=received_at)
        except ValidationError as exc:
            rejected[position] = f"not a Task: {describe_error(exc)}"
            continue
        seen = folded.get(state.task_id)
        folded[state.task_id] = fold(seen, state) if seen else state
    if rejected:
        raise RecordsRejected(rejected)
    return list(folded.values())


async def apply_task_batch(conn: AsyncConnection, *, values: Sequence[bytes | None]) -> list[Any]:
    """Record the tasks' states and move their alerts; returns the alert rows that changed."""
    tasks = parse_tasks(values, received_at=datetime.now(UTC))
    if not tasks:
        return []
    raw = await driver_connection(conn)
    tasks.sort(key=lambda t: t.task_id)
    await raw.execute(
        _UPSERT_TASKS,
        *(
            [getattr(t, f) for t in tasks]
            for f in (
                "task_id",
                "alert_id",
                "unit_id",
                "status",
                "version",
                "escalated",
                "outcome",
                "assigned_at",
                "signed_at",
                "resolved_at",
                "escalated_at",
            )
        ),
    )
    alert_ids = sorted({t.alert_id for t in tasks})
    current = {
        r["id"]: r
        for r in await raw.fetch(
            f"SELECT id, status, task_id, outcome, dispatched_at, signed_at, resolved_at, escalated_at "
            f"FROM {SCHEMA}.alerts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
            alert_ids,
        )
    }
    by_alert: dict[str, list[TaskState]] = {}
    for r in await raw.fetch(
        f"SELECT * FROM {SCHEMA}.alert_tasks WHERE alert_id = ANY($1::text[])", alert_ids
    ):
        by_alert.setdefault(r["alert_id"], []).append(TaskState(**{k: r[k] for k in TaskState.__slots__}))
    changes = []
    for alert_id, row in current.items():
        if row["status"] == "dismissed":
            continue  # closed by a person; late task events do not reopen it
        d = derive(by_alert.get(alert_id, []))
        if tuple(
            row[k]
            for k in (
                "status",
                "task_id",
                "outcome",
                "dispatched_at",
                "signed_at",
                "resolved_at",
                "escalated_at",
            )
        ) != (d.status, d.task_id, d.outcome, d.dispatched_at, d.signed_at, d.resolved_at, d.escalated_at):
            changes.append((alert_id, d))
    if not changes:
        return []
    rows = await raw.fetch(
        _APPLY,
        [a for a, _ in changes],
        [d.status for _, d in changes],
        [d.task_id for _, d in changes],
        [d.outcome for _, d in changes],
        [d.dispatched_at for _, d in changes],
        [d.signed_at for _, d in changes],
        [d.resolved_at for _, d in changes],
        [d.escalated_at for _, d in changes],
    )
    await publish(conn, rows=rows)
    return rows
