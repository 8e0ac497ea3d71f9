"""Reads and row locks behind assignment and the task API."""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import BigInteger, Boolean, DateTime, Float, Integer, or_, select, text
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from qzx_common.db import before_key, driver_connection
from qzx_dispatch.db import SCHEMA
from qzx_dispatch.org.models import Unit
from qzx_dispatch.tasks.models import ACTIVE_SQL, AlertRecord, TaskRow
from qzx_dispatch.tasks.recommend import Candidate, Need

ACTIVE = ("assigned", "signed", "en_route", "on_scene")

# Units on duty in the cities, with what the rules look at. Raw asyncpg: this runs for every
# assignment over thousands of units, so the database filters and counts and Python only ranks
# the nearest eligible few hundred.
_DUTY = f"""
    WITH duty AS (
        SELECT u.id, u.city_code, u.vehicle, u.capabilities, u.status,
               coalesce(l.lat, u.home_lat) AS lat, coalesce(l.lon, u.home_lon) AS lon, r.has_sworn,
               EXISTS (SELECT 1 FROM {SCHEMA}.tasks t WHERE t.unit_id = u.id AND t.{ACTIVE_SQL}) AS busy
        FROM {SCHEMA}.units u
        JOIN (SELECT unit_id, bool_or(has_sworn) AS has_sworn FROM {SCHEMA}.rosters
              WHERE starts_at <= $1 AND ends_at > $1 GROUP BY unit_id) r ON r.unit_id = u.id
        LEFT JOIN {SCHEMA}.unit_locations l ON l.unit_id = u.id
        WHERE u.city_code = ANY($2::text[]) AND starts_with(u.admin_code, $3)
    )
"""
# The first rule a unit fails, in the order of ``recommend.rejection``.
_WHY = """
    CASE WHEN d.id = ANY($4::text[]) THEN 'already had this alert'
         WHEN d.status <> 'available' THEN 'marked unavailable'
         WHEN d.busy THEN 'holds an active task'
         WHEN NOT d.capabilities @> $5::varchar[] THEN 'lacks ' || array_to_string(
             ARRAY(SELECT x FROM unnest($5::varchar[]) AS x WHERE NOT x = ANY(d.capabilities) ORDER BY x), ', ')
         WHEN $6 AND NOT d.has_sworn THEN 'no sworn officer on board'
    END
"""
# One round trip: the counts behind the reasons and the reserve rule, and the nearest eligible
# units with their workloads (tasks since $11).
_RANKING = (
    _DUTY
    + f"""
    , judged AS (SELECT d.*, {_WHY} AS why FROM duty d)
    , stats AS (
        SELECT coalesce(json_agg(json_build_array(city_code, why, free, n)), '[]') AS s
        FROM (SELECT city_code, why, (status = 'available' AND NOT busy) AS free, count(*) AS n
              FROM judged GROUP BY 1, 2, 3) g
    )
    , best AS (
        SELECT d.id, d.city_code, d.vehicle, d.capabilities, d.status, d.lat, d.lon, d.has_sworn
        FROM judged d
        WHERE d.why IS NULL
        ORDER BY (SELECT min((d.lat - p.lat) ^ 2 + ((d.lon - p.lon) * $9) ^ 2)
                  FROM unnest($7::float8[], $8::float8[]) AS p(lat, lon))
        LIMIT $10
    )
    SELECT s.s, b.id, b.city_code, b.vehicle, b.capabilities, b.status, b.lat, b.lon, b.has_sworn,
           (SELECT count(*) FROM {SCHEMA}.tasks t WHERE t.unit_id = b.id AND t.created_at > $11) AS workload
    FROM stats s LEFT JOIN best b ON true
"""
)


@dataclass
class Ranking:
    excluded: Counter[str]
    free: Counter[str]  # available, idle units per city (what the reserve rule counts)
    eligible: list[Candidate]  # every rule passed, nearest first, workloads set


async def ranking(
    session: AsyncSession, *, need: Need, now: datetime, since: datetime, limit: int
) -> Ranking:
    anchors = [(need.target_lat, need.target_lon)] + [(p.lat, p.lon) for p in need.points]
    raw = await driver_connection(await session.connection())
    rows = await raw.fetch(
        _RANKING,
        now,
        sorted(need.cities),
        need.unit_scope,
        sorted(need.exclude),
        sorted(need.capabilities),
        need.enforcement,
        [a[0] for a in anchors],
        [a[1] for a in anchors],
        math.cos(math.radians(need.target_lat)),
        limit,
        since,
    )
    out = Ranking(Counter(), Counter(), [])
    stats = rows[0][0]  # SQLAlchemy's asyncpg dialect may already have decoded the json
    for city, why, free, n in orjson.loads(stats) if isinstance(stats, str | bytes) else stats:
        if why is not None:
            out.excluded[why] += n
        if free:
            out.free[city] += n
    out.eligible = [
        Candidate(r[1], r[2], r[3], frozenset(r[4]), r[6], r[7], r[5], False, bool(r[8]), r[9])
        for r in rows
        if r[1] is not None
    ]
    return out


async def on_duty(
    session: AsyncSession, *, cities: Sequence[str], now: datetime, unit_scope: str = "37"
) -> list[Candidate]:
    """Every unit on duty in the cities (for the board-style checks and the demo test)."""
    raw = await driver_connection(await session.connection())
    rows = await raw.fetch(
        _DUTY + "SELECT id, city_code, vehicle, capabilities, status, lat, lon, has_sworn, busy FROM duty",
        now,
        list(cities),
        unit_scope,
    )
    return [Candidate(r[0], r[1], r[2], frozenset(r[3]), r[5], r[6], r[4], r[8], bool(r[7])) for r in rows]


async def claim_unit(session: AsyncSession, unit_id: str) -> int | None:
    """Lock the unit if nobody holds it and it is available and idle, and bump its change cursor
    for the task about to be created; the new cursor, or None (taken, busy or unavailable)."""
    return await session.scalar(
        text(
            f"UPDATE {SCHEMA}.units SET change_seq = change_seq + 1 WHERE id = ("
            f"SELECT u.id FROM {SCHEMA}.units u WHERE u.id = :id AND u.status = 'available' "
            f"AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.tasks t WHERE t.unit_id = u.id AND t.{ACTIVE_SQL}) "
            "FOR UPDATE OF u SKIP LOCKED) RETURNING change_seq"
        ),
        {"id": unit_id},
    )


async def insert_task(session: AsyncSession, row: TaskRow) -> bool:
    """Insert unless a partial unique index refuses it (the unit or the alert already has an
    active task): no exception, so no savepoint is needed on the assignment path."""
    values = {c.key: getattr(row, c.key) for c in TaskRow.__table__.columns}
    stmt = insert(TaskRow).values(values).on_conflict_do_nothing().returning(TaskRow.id)
    return (await session.scalar(stmt)) is not None


async def next_seq(session: AsyncSession, unit_id: str) -> int:
    """Bump the unit's change cursor (this also takes, or re-takes, the unit's row lock)."""
    seq = await session.scalar(
        text(f"UPDATE {SCHEMA}.units SET change_seq = change_seq + 1 WHERE id = :id RETURNING change_seq"),
        {"id": unit_id},
    )
    assert seq is not None, f"unit {unit_id} vanished"
    return int(seq)


async def next_seqs(session: AsyncSession, unit_ids: Sequence[str]) -> dict[str, int]:
    """``next_seq`` for many units, in one statement."""
    raw = await driver_connection(await session.connection())
    got = await raw.fetch(
        f"UPDATE {SCHEMA}.units SET change_seq = change_seq + 1 WHERE id = ANY($1::text[]) RETURNING id, change_seq",
        list(unit_ids),
    )
    seqs = {r[0]: r[1] for r in got}
    assert len(seqs) == len(set(unit_ids)), "a unit vanished"
    return seqs


async def active_for_alerts(session: AsyncSession, alert_ids: Sequence[str]) -> list[TaskRow]:
    """``active_for_alert`` for many, locked."""
    q = select(TaskRow).where(TaskRow.alert_id.in_(alert_ids), TaskRow.status.in_(ACTIVE))
    return list((await session.scalars(q.order_by(TaskRow.id).with_for_update())).all())


async def city_lock(session: AsyncSession, city: str) -> None:
    """Serialise reserve-rule decisions per city (released at commit)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"qzx-reserve-{city}"})


async def get_task(session: AsyncSession, task_id: str, *, lock: bool = False) -> TaskRow | None:
    return await session.get(TaskRow, task_id, with_for_update=lock, populate_existing=lock)


async def active_for_alert(session: AsyncSession, alert_id: str) -> TaskRow | None:
    q = select(TaskRow).where(TaskRow.alert_id == alert_id, TaskRow.status.in_(ACTIVE))
    return (await session.scalars(q.with_for_update())).first()


async def handled_since(session: AsyncSession, alert_id: str, since: datetime) -> bool:
    q = select(TaskRow.id).where(TaskRow.alert_id == alert_id, TaskRow.created_at >= since).limit(1)
    return (await session.scalar(q)) is not None


async def units_of_alert(session: AsyncSession, alert_id: str) -> set[str]:
    return set((await session.scalars(select(TaskRow.unit_id).where(TaskRow.alert_id == alert_id))).all())


async def upsert_alert(session: AsyncSession, values: dict[str, object]) -> bool:
    """Store the alert's latest version; False when this version (or a newer one) is known."""
    got = await session.scalar(
        text(
            f"""
            INSERT INTO {SCHEMA}.alerts (alert_id, version, status, priority, kind, violations, admin_code,
                                         first_seen, last_seen, payload, updated_at)
            VALUES (:alert_id, :version, :status, :priority, :kind, :violations, :admin_code,
                    :first_seen, :last_seen, CAST(:payload AS jsonb), now())
            ON CONFLICT (alert_id) DO UPDATE SET
                version = excluded.version, status = excluded.status, priority = excluded.priority,
                kind = excluded.kind, violations = excluded.violations, admin_code = excluded.admin_code,
                first_seen = excluded.first_seen, last_seen = excluded.last_seen, payload = excluded.payload,
                updated_at = now()
            WHERE {SCHEMA}.alerts.version < excluded.version
            RETURNING alert_id
            """
        ),
        values,
    )
    return got is not None


async def get_alert(session: AsyncSession, alert_id: str, *, lock: bool = False) -> AlertRecord | None:
    return await session.get(AlertRecord, alert_id, with_for_update=lock, populate_existing=lock)


async def due_pending(session: AsyncSession, *, now: datetime, limit: int) -> list[AlertRecord]:
    q = (
        select(AlertRecord)
        .where(AlertRecord.state == "pending", AlertRecord.next_try_at <= now)
        .order_by(AlertRecord.next_try_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(q)).all())


async def missed_sign_by(session: AsyncSession, *, now: datetime, limit: int) -> list[TaskRow]:
    q = (
        select(TaskRow)
        .where(TaskRow.status == "assigned", TaskRow.sign_by < now)
        .order_by(TaskRow.sign_by)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(q)).all())


async def missed_feedback(session: AsyncSession, *, now: datetime, limit: int) -> list[TaskRow]:
    q = (
        select(TaskRow)
        .where(
            TaskRow.status.in_(("signed", "en_route", "on_scene")),
            TaskRow.escalated.is_(False),
            TaskRow.feedback_by < now,
        )
        .order_by(TaskRow.feedback_by)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(q)).all())


async def search(
    session: AsyncSession,
    *,
    jur: str,
    status: Sequence[str] | None,
    unit_id: str | None,
    alert_id: str | None,
    priority: str | None,
    admin_code: str | None,
    escalated: bool | None,
    since: datetime | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[TaskRow]:
    q = select(TaskRow).where(
        or_(TaskRow.target_admin_code.startswith(jur), TaskRow.aid_admin_code.startswith(jur))  # mutual aid
    )
    if status:
        q = q.where(TaskRow.status.in_(status))
    if unit_id:
        q = q.where(TaskRow.unit_id == unit_id)
    if alert_id:
        q = q.where(TaskRow.alert_id == alert_id)
    if priority:
        q = q.where(TaskRow.priority == priority)
    if admin_code:
        q = q.where(TaskRow.target_admin_code.startswith(admin_code))
    if escalated is not None:
        q = q.where(TaskRow.escalated.is_(escalated))
    if since:
        q = q.where(TaskRow.created_at >= since)
    if after:
        q = q.where(before_key((TaskRow.created_at, TaskRow.id), after))
    q = q.order_by(TaskRow.created_at.desc(), TaskRow.id.desc()).limit(limit)
    return list((await session.scalars(q)).all())


async def changed_for_unit(
    session: AsyncSession, *, unit_id: str, after_seq: int, limit: int
) -> list[TaskRow]:
    q = (
        select(TaskRow)
        .where(TaskRow.unit_id == unit_id, TaskRow.unit_seq > after_seq)
        .order_by(TaskRow.unit_seq)
        .limit(limit)
    )
    return list((await session.scalars(q)).all())


# -- the consumer's batch: one statement for many alerts -------------------------------------------

_UPSERT_ALERTS = f"""
    INSERT INTO {SCHEMA}.alerts AS a (alert_id, version, status, priority, kind, violations, admin_code,
                                      first_seen, last_seen, payload, updated_at)
    SELECT v.alert_id, v.version, v.status, v.priority, v.kind,
           ARRAY(SELECT jsonb_array_elements_text(v.payload::jsonb -> 'violations')),
           v.admin_code, v.first_seen, v.last_seen, v.payload::jsonb, now()
    FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[],
                $7::timestamptz[], $8::timestamptz[], $9::text[])
         AS v(alert_id, version, status, priority, kind, admin_code, first_seen, last_seen, payload)
    ON CONFLICT (alert_id) DO UPDATE SET
        version = excluded.version, status = excluded.status, priority = excluded.priority,
        kind = excluded.kind, violations = excluded.violations, admin_code = excluded.admin_code,
        first_seen = excluded.first_seen, last_seen = excluded.last_seen, payload = excluded.payload,
        updated_at = now()
    WHERE a.version < excluded.version
    RETURNING a.alert_id, a.requeued_at
"""


async def upsert_alerts(
    session: AsyncSession, rows: Sequence[dict[str, object]]
) -> dict[str, datetime | None]:
    """``upsert_alert`` for many alerts (distinct ids, ``alert_values`` rows) in one statement: the
    ids whose version was new (their rows are locked until commit), with when each was re-queued."""
    if not rows:
        return {}
    raw = await driver_connection(await session.connection())
    columns = ("alert_id", "version", "status", "priority", "kind", "admin_code", "first_seen", "last_seen")
    got = await raw.fetch(
        _UPSERT_ALERTS, *([r[c] for r in rows] for c in columns), [r["payload"] for r in rows]
    )
    return {r[0]: r[1] for r in got}


async def task_facts(session: AsyncSession, since_by_alert: dict[str, datetime]) -> tuple[set[str], set[str]]:
    """Of these alerts, those with an active task, and those with a task made since the given time
    (``active_for_alert`` and ``handled_since`` for many, unlocked: the caller holds the alert rows,
    which serialise their intake)."""
    if not since_by_alert:
        return set(), set()
    raw = await driver_connection(await session.connection())
    got = await raw.fetch(
        f"""
        SELECT v.alert_id, bool_or(t.{ACTIVE_SQL}), bool_or(t.created_at >= greatest(v.since, a.requeued_at))
        FROM unnest($1::text[], $2::timestamptz[]) AS v(alert_id, since)
        JOIN {SCHEMA}.tasks t ON t.alert_id = v.alert_id
        JOIN {SCHEMA}.alerts a ON a.alert_id = v.alert_id  -- a re-queued alert's older tasks do not count
        GROUP BY v.alert_id
        """,
        list(since_by_alert),
        list(since_by_alert.values()),
    )
    return {r[0] for r in got if r[1]}, {r[0] for r in got if r[2]}


async def duty_board(
    session: AsyncSession, *, cities: Sequence[str], now: datetime, since: datetime, unit_scope: str = "37"
) -> list[tuple[Candidate, tuple[str, str, str] | None]]:
    """Every unit on duty in the cities with its workload (tasks since ``since``; a busy unit's
    counts once its task is displaced), and the (status, priority, id) of the active task it holds
    when it is busy."""
    raw = await driver_connection(await session.connection())
    rows = await raw.fetch(
        _DUTY + "SELECT id, city_code, vehicle, capabilities, status, lat, lon, has_sworn, busy, "
        f"(SELECT count(*) FROM {SCHEMA}.tasks t WHERE t.unit_id = duty.id AND t.created_at > $4), "
        f"(SELECT ARRAY[t.status, t.priority, t.id] FROM {SCHEMA}.tasks t WHERE busy AND t.unit_id = duty.id "
        f"AND t.{ACTIVE_SQL} LIMIT 1) FROM duty",
        now,
        sorted(cities),
        unit_scope,
        since,
    )
    return [
        (
            Candidate(r[0], r[1], r[2], frozenset(r[3]), r[5], r[6], r[4], r[8], bool(r[7]), r[9]),
            (r[10][0], r[10][1], r[10][2]) if r[10] else None,
        )
        for r in rows
    ]


async def claim_units(session: AsyncSession, unit_ids: Sequence[str]) -> dict[str, int]:
    """``claim_unit`` for many: the units locked (available, idle, nobody else holding them) with
    their bumped cursors."""
    if not unit_ids:
        return {}
    raw = await driver_connection(await session.connection())
    got = await raw.fetch(
        f"UPDATE {SCHEMA}.units SET change_seq = change_seq + 1 WHERE id IN ("
        f"SELECT u.id FROM {SCHEMA}.units u WHERE u.id = ANY($1::text[]) AND u.status = 'available' "
        f"AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.tasks t WHERE t.unit_id = u.id AND t.{ACTIVE_SQL}) "
        "ORDER BY u.id FOR UPDATE OF u SKIP LOCKED) RETURNING id, change_seq",
        list(unit_ids),
    )
    return {r[0]: r[1] for r in got}


def _array_type(t: TypeEngine[Any]) -> str:
    for kind, name in ((Boolean, "bool"), (BigInteger, "int8"), (Integer, "int4"), (Float, "float8")):
        if isinstance(t, kind):
            return name
    return "timestamptz" if isinstance(t, DateTime) else "text"  # strings, and JSON as text


@functools.cache
def _insert_tasks_sql() -> str:
    """INSERT … SELECT FROM unnest(one array per column): JSON columns travel as text."""
    columns = list(TaskRow.__table__.columns)
    arrays = ", ".join(f"${i}::{_array_type(c.type)}[]" for i, c in enumerate(columns, 1))
    picks = ", ".join(f"v.{c.name}::jsonb" if isinstance(c.type, JSONB) else f"v.{c.name}" for c in columns)
    names = ", ".join(c.name for c in columns)
    return (
        f"INSERT INTO {SCHEMA}.tasks ({names}) SELECT {picks} FROM unnest({arrays}) AS v({names}) "
        "ON CONFLICT DO NOTHING RETURNING id"
    )


async def insert_tasks(session: AsyncSession, rows: Sequence[TaskRow]) -> set[str]:
    """``insert_task`` for many, in one statement: the ids inserted (the others met a partial
    unique index)."""
    if not rows:
        return set()
    raw = await driver_connection(await session.connection())
    arrays = []
    for c in TaskRow.__table__.columns:
        values = [getattr(r, c.key) for r in rows]
        if isinstance(c.type, JSONB):
            values = [None if v is None else orjson.dumps(v).decode() for v in values]
        arrays.append(values)
    return {r[0] for r in await raw.fetch(_insert_tasks_sql(), *arrays)}


async def set_alert_states(
    session: AsyncSession, states: Sequence[tuple[str, str, str | None]], *, keep_reason: bool
) -> None:
    """(alert id, state, reason) for many alerts; ``keep_reason``: leave ``last_reason`` as it is."""
    if not states:
        return
    reason = "" if keep_reason else ", last_reason = :reason"
    await session.execute(
        text(f"UPDATE {SCHEMA}.alerts SET state = :state{reason} WHERE alert_id = :alert_id"),
        [{"alert_id": a, "state": st, "reason": why} for a, st, why in states],
    )


async def record_pending(
    session: AsyncSession, reasons: Sequence[tuple[str, str]], *, retry_at: datetime
) -> None:
    """(alert id, reason) for alerts no unit could take: pending, one more attempt, retried at ``retry_at``."""
    if not reasons:
        return
    await session.execute(
        text(
            f"UPDATE {SCHEMA}.alerts SET state = 'pending', last_reason = :reason, next_try_at = :retry_at, "
            "attempts = attempts + 1 WHERE alert_id = :alert_id"
        ),
        [{"alert_id": a, "reason": why, "retry_at": retry_at} for a, why in reasons],
    )


async def record_attempts(session: AsyncSession, alert_ids: Sequence[str]) -> None:
    """These alerts were given a task: handled, one more attempt, nothing left to retry."""
    if not alert_ids:
        return
    await session.execute(
        text(
            f"UPDATE {SCHEMA}.alerts SET state = 'handled', last_reason = NULL, next_try_at = NULL, "
            "attempts = attempts + 1 WHERE alert_id = ANY(CAST(:ids AS text[]))"
        ),
        {"ids": list(alert_ids)},
    )


async def lock_displaceable(
    session: AsyncSession, task_ids: Sequence[str], statuses: Sequence[str]
) -> dict[str, TaskRow]:
    """Of these tasks, those still in ``statuses`` whose unit is still available, locked with
    their units (``preempt.take_busy_unit`` locks and checks the one it takes)."""
    if not task_ids:
        return {}
    q = (
        select(TaskRow)
        .join(Unit, Unit.id == TaskRow.unit_id)
        .where(TaskRow.id.in_(task_ids), TaskRow.status.in_(statuses), Unit.status == "available")
        .order_by(TaskRow.unit_id)
        .with_for_update(of=(TaskRow, Unit))
        .execution_options(populate_existing=True)
    )
    return {t.id: t for t in (await session.scalars(q)).all()}


async def requeue_alerts(session: AsyncSession, reasons: Sequence[tuple[str, str]], *, now: datetime) -> None:
    """``preempt.requeue`` for many (alert id, reason)."""
    if not reasons:
        return
    await session.execute(
        text(
            f"UPDATE {SCHEMA}.alerts SET state = 'pending', last_reason = :reason, next_try_at = :now, "
            "requeued_at = :now, payload = payload || CAST(:reset AS jsonb) WHERE alert_id = :alert_id"
        ),
        [
            {"alert_id": a, "reason": why, "now": now, "reset": '{"status": "new", "task_id": null}'}
            for a, why in reasons
        ],
    )
