"""The checks, each reading the database (one snapshot) and, where it says so, the topics.

Topics are read as far as their end offsets when the read begins; the database snapshot is taken
after the camera topic is read and before the others are, so on a quiet system every record read
is in it. On a busy one what is in flight shows too, next to the backlog that explains it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
import orjson
from aiokafka import ConsumerRecord

from qzx_common.kafka.deadletter import DeadLetter
from qzx_common.reconcile.report import Report
from qzx_common.reconcile.topics import group_lag, read_range
from qzx_common.topics import (
    ALERTS,
    CAMERA_VIOLATIONS,
    CONSUMED,
    GROUPS,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
    VIOLATIONS_ACCEPTED,
    dlq_topic,
)

# One schema per service (docs/design.md §2), each with its dead_letters and outbox tables.
SCHEMAS = ("ingest", "alerts", "dispatch")
ACTIVE = ("assigned", "signed", "en_route", "on_scene")

# (partition, offset, timestamp, digest): a consumed record as its dead letter names it.
Identity = tuple[int, int, int, bytes]


@dataclass
class Context:
    conn: asyncpg.Connection
    bootstrap: str
    prefix: str
    timeout_s: float
    report: Report = field(default_factory=Report)

    def topic(self, name: str) -> str:
        return self.prefix + name


def event_id_of(value: bytes | None) -> str | None:
    try:
        doc = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    event_id = doc.get("event_id") if isinstance(doc, dict) else None
    return event_id if isinstance(event_id, str) else None


def digest(key: bytes | None, value: bytes | None) -> bytes:
    """The dead-letter digest of a record (the one definition: ``DeadLetter.digest``)."""
    return DeadLetter(source="", raw=value or b"", error="", consumer="", key=key).digest


def position(r: ConsumerRecord) -> str:
    return f"{r.partition}/{r.offset}"


async def dead_lettered(
    ctx: Context, schema: str, source: str, records: Sequence[ConsumerRecord]
) -> set[Identity]:
    """Which of ``records`` (of topic ``source``, unprefixed) ``schema`` holds as dead letters."""
    rows = await ctx.conn.fetch(
        f"""SELECT u.p, u.o, u.t, u.d FROM unnest($2::int[], $3::bigint[], $4::bigint[], $5::bytea[])
                AS u(p, o, t, d)
            JOIN "{schema}".dead_letters x ON x.source = $1 AND x.source_partition = u.p
                 AND x.source_offset = u.o AND x.source_timestamp = u.t AND x.digest = u.d""",
        source,
        [r.partition for r in records],
        [r.offset for r in records],
        [r.timestamp for r in records],
        [digest(r.key, r.value) for r in records],
    )
    return {(r["p"], r["o"], r["t"], bytes(r["d"])) for r in rows}


def identity(r: ConsumerRecord) -> Identity:
    return (r.partition, r.offset, r.timestamp, digest(r.key, r.value))


async def camera_topic(ctx: Context) -> None:
    """Every camera record is stored (its event id) or dead-lettered; in = stored + dead + dups."""
    seen: set[str] = set()
    stored = dead = duplicates = 0
    lost: list[str] = []
    async for chunk in read_range(ctx.bootstrap, ctx.topic(CAMERA_VIOLATIONS), timeout_s=ctx.timeout_s):
        letters = await dead_lettered(ctx, "ingest", CAMERA_VIOLATIONS, chunk)
        ids = [event_id_of(r.value) for r in chunk]
        known = {
            row["event_id"]
            for row in await ctx.conn.fetch(
                "SELECT event_id FROM ingest.violations WHERE event_id = ANY($1::text[])",
                [i for i in ids if i is not None],
            )
        }
        for r, event_id in zip(chunk, ids, strict=True):
            if identity(r) in letters:
                dead += 1
            elif event_id is not None and event_id in known:
                duplicates += event_id in seen
                stored += event_id not in seen
                seen.add(event_id)
            else:
                lost.append(event_id or position(r))
    c = ctx.report.counts
    c["camera records"] = stored + dead + duplicates + len(lost)
    c["camera stored"], c["camera dead-lettered"], c["camera duplicates"] = stored, dead, duplicates
    ctx.report.add("unaccounted", CAMERA_VIOLATIONS, lost)


async def accepted_topic(ctx: Context) -> None:
    """Every stored event is forwarded (or waits in the outbox, or a relay set it aside with a
    reason), and every forwarded one is scored (a sighting in alerts) or dead-lettered there."""
    on_topic: set[str] = set()
    unscored: list[str] = []
    records = 0
    async for chunk in read_range(ctx.bootstrap, ctx.topic(VIOLATIONS_ACCEPTED), timeout_s=ctx.timeout_s):
        records += len(chunk)
        letters = await dead_lettered(ctx, "alerts", VIOLATIONS_ACCEPTED, chunk)
        ids = [event_id_of(r.value) for r in chunk]
        sighted = {
            row["event_id"]
            for row in await ctx.conn.fetch(
                "SELECT event_id FROM alerts.sightings WHERE event_id = ANY($1::text[])",
                [i for i in ids if i is not None],
            )
        }
        for r, event_id in zip(chunk, ids, strict=True):
            if event_id is not None:
                on_topic.add(event_id)
            if event_id not in sighted and identity(r) not in letters:
                unscored.append(event_id or position(r))
    ctx.report.counts["accepted records"] = records
    ctx.report.add("not_scored", VIOLATIONS_ACCEPTED, unscored)

    topic = ctx.topic(VIOLATIONS_ACCEPTED)
    waiting = {event_id_of(bytes(r["value"])) for r in await _outbox(ctx, "ingest", topic)}
    set_aside = {event_id_of(bytes(r["raw"])) for r in await _set_aside(ctx, "ingest", topic)}
    stored = 0
    missing: list[str] = []
    async for row in ctx.conn.cursor("SELECT event_id FROM ingest.violations"):
        stored += 1
        e = row["event_id"]
        if e not in on_topic and e not in waiting and e not in set_aside:
            missing.append(e)
    ctx.report.counts["ingest violations"] = stored
    ctx.report.add("not_forwarded", VIOLATIONS_ACCEPTED, missing)


async def _outbox(ctx: Context, schema: str, topic: str) -> list[asyncpg.Record]:
    return await ctx.conn.fetch(f'SELECT key, value, headers FROM "{schema}".outbox WHERE topic = $1', topic)


async def _set_aside(ctx: Context, schema: str, topic: str) -> list[asyncpg.Record]:
    """What a relay of ``schema`` could not publish to ``topic`` (kept with its reason)."""
    return await ctx.conn.fetch(
        f'SELECT key, raw FROM "{schema}".dead_letters WHERE source = $1 AND source_partition IS NULL',
        topic,
    )


async def dead_letter_topics(ctx: Context) -> None:
    """Every consumer's dead letter is on its ``.dlq`` topic (or on its way, or set aside)."""
    published: set[tuple[str, int, int, bytes]] = set()
    records = 0
    for source in CONSUMED:
        async for chunk in read_range(ctx.bootstrap, ctx.topic(dlq_topic(source)), timeout_s=ctx.timeout_s):
            records += len(chunk)
            published.update(_dlq_identity(dict(r.headers or ()), r.key, r.value) for r in chunk)
    ctx.report.counts["dead-letter topic records"] = records
    for schema in SCHEMAS:
        later: set[tuple[str, int, int, bytes]] = set()
        kept: set[bytes] = set()
        for source in CONSUMED:
            topic = ctx.topic(dlq_topic(source))
            for r in await _outbox(ctx, schema, topic):
                headers = {k: v.encode() for k, v in orjson.loads(r["headers"] or "{}").items()}
                later.add(_dlq_identity(headers, r["key"], bytes(r["value"])))
            kept.update(digest(r["key"], bytes(r["raw"])) for r in await _set_aside(ctx, schema, topic))
        rows = await ctx.conn.fetch(
            f"""SELECT source, source_partition, source_offset, digest FROM "{schema}".dead_letters
                WHERE source_partition IS NOT NULL"""
        )
        ctx.report.counts[f"{schema} dead letters"] = len(rows)
        missing = [
            f"{r['source']}:{r['source_partition']}/{r['source_offset']}"
            for r in rows
            if (key := (r["source"], r["source_partition"], r["source_offset"], bytes(r["digest"])))
            not in published
            and key not in later
            and key[3] not in kept
        ]
        ctx.report.add("dlq_missing", schema, missing)


def _dlq_identity(
    headers: dict[str, bytes], key: bytes | None, value: bytes | None
) -> tuple[str, int, int, bytes]:
    def number(name: str) -> int:
        raw = headers.get(name, b"").decode()
        return int(raw) if raw.lstrip("-").isdigit() else -1

    source = headers.get(HEADER_SOURCE_TOPIC, b"").decode()
    return (source, number(HEADER_SOURCE_PARTITION), number(HEADER_SOURCE_OFFSET), digest(key, value))


async def stored_twice(ctx: Context) -> None:
    """An event in two violation alerts, two live tasks for one alert, a dead letter twice."""
    q = ctx.conn.fetch
    events = await q(
        """SELECT e FROM alerts.alerts, unnest(event_ids) AS e WHERE kind = 'violation'
           GROUP BY e HAVING count(*) > 1"""
    )
    ctx.report.add("stored_twice", "event in two violation alerts", (r["e"] for r in events))
    tasks = await q(
        """SELECT alert_id FROM dispatch.tasks WHERE status NOT IN ('reassigned', 'cancelled')
           GROUP BY alert_id HAVING count(*) > 1"""
    )
    ctx.report.add("stored_twice", "alert with two live or resolved tasks", (r["alert_id"] for r in tasks))
    for schema in SCHEMAS:
        rows = await q(
            f"""SELECT source, source_partition AS p, source_offset AS o FROM "{schema}".dead_letters
                WHERE source_partition IS NOT NULL
                GROUP BY source, source_partition, source_offset, digest HAVING count(*) > 1"""
        )
        ctx.report.add(
            "stored_twice", f"{schema} dead letter", (f"{r['source']}:{r['p']}/{r['o']}" for r in rows)
        )


async def priority_alerts(ctx: Context) -> None:
    """A new P1/P2 alert has a task in dispatch, or dispatch recorded why it has none."""
    rows = await ctx.conn.fetch(
        """SELECT a.id FROM alerts.alerts a LEFT JOIN dispatch.alerts d ON d.alert_id = a.id
           WHERE a.priority IN ('P1', 'P2') AND a.status = 'new'
             AND (d.alert_id IS NULL OR (d.state = 'pending' AND d.last_reason IS NULL))"""
    )
    c = ctx.report.counts
    c["alerts"] = await ctx.conn.fetchval("SELECT count(*) FROM alerts.alerts")
    c["alerts P1/P2"] = await ctx.conn.fetchval(
        "SELECT count(*) FROM alerts.alerts WHERE priority IN ('P1', 'P2')"
    )
    ctx.report.add("priority_unhandled", "P1/P2", (r["id"] for r in rows))


async def tasks_and_alerts(ctx: Context) -> None:
    """alerts knows each task at dispatch's version, and each alert's status follows its task."""
    q = ctx.conn.fetch
    ctx.report.counts["tasks"] = await ctx.conn.fetchval("SELECT count(*) FROM dispatch.tasks")
    unknown = await q(
        """SELECT t.id FROM dispatch.tasks t LEFT JOIN alerts.alert_tasks x ON x.task_id = t.id
           WHERE x.task_id IS NULL OR x.version <> t.version OR x.status <> t.status"""
    )
    ctx.report.add(
        "task_disagrees", "alerts' copy of the task is missing or older", (r["id"] for r in unknown)
    )
    status = await q(
        """SELECT t.id FROM dispatch.tasks t LEFT JOIN alerts.alerts a ON a.id = t.alert_id
           WHERE a.id IS NULL
              OR (t.status = ANY($1::text[]) AND a.status <> CASE
                    WHEN t.escalated THEN 'escalated' WHEN t.status = 'assigned' THEN 'dispatched'
                    ELSE 'signed' END)
              OR (t.status = 'resolved' AND a.status NOT IN ('resolved', 'dismissed'))""",
        list(ACTIVE),
    )
    ctx.report.add("task_disagrees", "alert status does not follow the task", (r["id"] for r in status))
    orphans = await q(
        """SELECT a.id FROM alerts.alerts a LEFT JOIN dispatch.tasks t ON t.id = a.task_id
           WHERE a.task_id IS NOT NULL AND t.id IS NULL"""
    )
    ctx.report.add("task_disagrees", "alert names a task dispatch does not have", (r["id"] for r in orphans))


async def backlogs(ctx: Context) -> None:
    """What is still on its way: outbox rows, change-log entries past the relay's cursor, lag."""
    for schema in SCHEMAS:
        n = await ctx.conn.fetchval(f'SELECT count(*) FROM "{schema}".outbox')
        first = await ctx.conn.fetch(f'SELECT id FROM "{schema}".outbox ORDER BY id LIMIT 5')
        ctx.report.add("backlog", f"{schema}.outbox", (f"row {r['id']}" for r in first), count=n)
    row = await ctx.conn.fetchrow(
        """SELECT count(*) AS n, array_agg(c.id ORDER BY c.id) FILTER (WHERE c.id IS NOT NULL) AS ids
           FROM alerts.alert_changes c
           WHERE c.id > coalesce((SELECT position FROM alerts.log_cursors WHERE name = $1), 0)""",
        ALERTS,
    )
    ctx.report.add(
        "backlog",
        "alerts.alert_changes past the relay cursor",
        (f"change {i}" for i in (row["ids"] or [])[:5]),
        count=row["n"],
    )
    groups = {ctx.prefix + g: ctx.topic(t) for g, t in GROUPS.items()}
    for group in groups:
        lags = [lag for lag in await group_lag(ctx.bootstrap, {group: groups[group]}) if lag.behind > 0]
        ctx.report.add(
            "backlog",
            f"consumer lag {group}",
            (f"p{lag.partition}:+{lag.behind}" for lag in lags),
            count=sum(lag.behind for lag in lags),
        )
