"""Alert rows: bulk upserts for the consumers, keyset reads for the API, the change log for SSE."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

import asyncpg
import orjson

from qzx_alerts.alerts.columns import (
    ALERT_COLUMNS,
    IDENTITY_COLUMNS,
    NOT_COVERT_HIT_SQL,
    PLAIN_ROW_FIELDS,
    ROW_JSON,
    ROW_LISTS,
    SCORED_COLUMNS,
    STAGED_ALERTS,
    STATE_COLUMNS,
)
from qzx_alerts.alerts.merge import OpenAlert
from qzx_alerts.alerts.schemas import LinkedEvent
from qzx_alerts.checkpoints.service import PASSAGE
from qzx_alerts.db import SCHEMA, stage
from qzx_alerts.scoring.domain import plate_keys
from qzx_alerts.scoring.rules import Rules

TERMINAL = ("resolved", "dismissed")
_WORD = re.compile(r"[a-z_]+")
NOTIFY_CHANNEL = "qzx_alert_changes"
# One writer at a time appends to alert_changes, so ids become visible in commit order and a
# reader resuming after id N can never miss a smaller id that commits later.
_CHANGES_LOCK = 0x71_7A_78_0A_1E_27


def key_lock_ids(keys: Sequence[str]) -> list[int]:
    """Stable 63-bit advisory-lock ids, sorted (every transaction locks in the same order)."""
    return sorted({int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8).digest()) >> 1 for k in keys})


async def lock_keys(raw: asyncpg.Connection, keys: Sequence[str]) -> datetime:
    """Serialise deduplication per key across replicas (racing groups span partitions); returns the
    transaction's time (in the same round trip)."""
    now: datetime = await raw.fetchval(
        "SELECT now(), count(*) FROM (SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) "
        "WITH ORDINALITY AS u(k, n) ORDER BY n) AS locked",
        key_lock_ids(keys),
    )
    return now


# What ``open_alerts`` reads for one finding: (dedup key, start, end, earliest first_seen, latest
# last_seen, how many). ANY_START and ANY_END leave the span unbounded.
Window = tuple[str, datetime, datetime, datetime, datetime, int]
ANY_START = datetime.min.replace(tzinfo=UTC)
ANY_END = datetime.max.replace(tzinfo=UTC)


async def open_alerts(raw: asyncpg.Connection, windows: Sequence[Window]) -> list[asyncpg.Record]:
    """For each window, the ``n`` open alerts of its key that were active last among those whose
    span meets [start, end] and lies within [earliest, latest] (``merge`` picks among them: see
    ``merge.merge``), each alert once."""
    if not windows:
        return []
    keys, starts, ends, earliest, latest, limits = zip(*windows, strict=True)
    return await raw.fetch(
        f"SELECT {ALERT_COLUMNS} FROM {SCHEMA}.alerts WHERE id IN ("
        "SELECT l.id FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[], "
        "$5::timestamptz[], $6::int[]) AS w(k, s, e, lo, hi, n) "
        f"CROSS JOIN LATERAL (SELECT a.id FROM {SCHEMA}.alerts a WHERE a.dedup_key = w.k "
        "AND a.last_seen >= w.s AND a.first_seen <= w.e AND a.first_seen >= w.lo AND a.last_seen <= w.hi "
        "AND a.status <> ALL($7::text[]) ORDER BY a.last_seen DESC, a.id DESC LIMIT w.n) l)",
        list(keys),
        list(starts),
        list(ends),
        list(earliest),
        list(latest),
        list(limits),
        list(TERMINAL),
    )


# The batch's scored alerts are staged (``columns.STAGED_ALERTS``, see db.stage). Alerts that
# cannot exist yet (``OpenAlert.unseen``) are inserted with no conflict check and nothing read back
# (their state is the defaults: created and updated at the transaction's time, ``now()``); the
# others are upserted.
_STAGED = STAGED_ALERTS.name
_COMPUTED = {"city_code": "left(admin_code, 4)", "rules_version": "$1"}
_COLUMNS = ", ".join(SCORED_COLUMNS)
_VALUES = ", ".join(_COMPUTED.get(c) or STAGED_ALERTS.read_back(c) for c in SCORED_COLUMNS)
_MERGED = {
    "first_seen": "LEAST(a.first_seen, EXCLUDED.first_seen)",
    "last_seen": "GREATEST(a.last_seen, EXCLUDED.last_seen)",
}
_UPDATES = ", ".join(
    f"{c} = {_MERGED.get(c, f'EXCLUDED.{c}')}" for c in SCORED_COLUMNS if c not in IDENTITY_COLUMNS
)

_INSERT_UNSEEN = f"""
INSERT INTO {SCHEMA}.alerts ({_COLUMNS})
SELECT {_VALUES} FROM {_STAGED} WHERE unseen ORDER BY n
"""

_UPSERT = f"""
INSERT INTO {SCHEMA}.alerts AS a ({_COLUMNS})
SELECT {_VALUES} FROM {_STAGED} WHERE NOT unseen ORDER BY n
ON CONFLICT (id) DO UPDATE SET {_UPDATES}, version = a.version + 1, updated_at = now()
RETURNING {", ".join("a." + c for c in STATE_COLUMNS)}
"""
_plain_values = attrgetter(*PLAIN_ROW_FIELDS)
_list_values = attrgetter(*ROW_LISTS)
_JSON_OF: dict[str, Any] = {  # ROW_JSON's encoders (the factors are encoded once, for the payload too)
    "factors": OpenAlert.factors_json,
    "evidence": lambda a: orjson.dumps(a.evidence),
}
_json_encoders = tuple(_JSON_OF[c] for c in ROW_JSON)


async def write_alerts(
    raw: asyncpg.Connection, alerts: Sequence[OpenAlert], rules: Rules
) -> list[asyncpg.Record]:
    """Write what scoring owns (never status or task fields, which lifecycle owns), in the given
    order (every writer locks rows in id order); returns the STATE_COLUMNS of each row upserted
    (the rest is what ``alerts`` hold; new rows have ``schemas.created_state``)."""
    if not alerts:
        return []
    deadlines = rules.priorities
    await stage(
        raw,
        STAGED_ALERTS,
        (
            (
                n,
                a.unseen,
                *_plain_values(a),
                *(",".join(values) for values in _list_values(a)),
                *(encode(a).decode() for encode in _json_encoders),
                deadlines[a.priority].sign_for_s,
                deadlines[a.priority].feedback_s,
            )
            for n, a in enumerate(alerts)
        ),
    )
    if any(a.unseen for a in alerts):
        await raw.execute(_INSERT_UNSEEN, rules.version)
    if all(a.unseen for a in alerts):
        return []
    return list(await raw.fetch(_UPSERT, rules.version))


async def append_changes(raw: asyncpg.Connection, changes: Iterable[tuple[str, str, bytes]]) -> None:
    """Log each new alert state (alert id, admin code, payload) for the SSE stream and wake
    listeners on commit."""
    # The NOTIFY is delivered at commit: it may be queued with the lock.
    await raw.execute(f"SELECT pg_advisory_xact_lock($1), pg_notify('{NOTIFY_CHANNEL}', '')", _CHANGES_LOCK)
    await raw.copy_records_to_table(
        "alert_changes", schema_name=SCHEMA, columns=["alert_id", "admin_code", "payload"], records=changes
    )


async def changes_after(raw: asyncpg.Connection, *, after: int, jur: str, limit: int) -> list[asyncpg.Record]:
    return await raw.fetch(
        f"SELECT id, alert_id, payload FROM {SCHEMA}.alert_changes WHERE id > $1 AND admin_code LIKE $2 "
        "ORDER BY id LIMIT $3",
        after,
        jur + "%",
        limit,
    )


async def changes_since(raw: asyncpg.Connection, *, after: int, limit: int) -> list[asyncpg.Record]:
    """Every jurisdiction's changes after ``after`` (the SSE streams' shared tail)."""
    return await raw.fetch(
        f"SELECT id, admin_code, alert_id, payload FROM {SCHEMA}.alert_changes WHERE id > $1 ORDER BY id LIMIT $2",
        after,
        limit,
    )


async def last_change_id(raw: asyncpg.Connection) -> int:
    return int(await raw.fetchval(f"SELECT coalesce(max(id), 0) FROM {SCHEMA}.alert_changes"))


async def get(raw: asyncpg.Connection, alert_id: str, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await raw.fetchrow(f"SELECT {ALERT_COLUMNS} FROM {SCHEMA}.alerts WHERE id = $1{lock}", alert_id)


# A linked event is a violation sighting or, for findings raised from passages (their event ids
# are passage ids), a linked passage: each table's columns in LinkedEvent's order, what a table
# lacks as NULL.
_FROM_SIGHTINGS = {"road": "NULL", "km": "NULL"}
_FROM_PASSAGES = {
    "event_id": "passage_id",
    "violation": f"'{PASSAGE}'",
    "vehicle_class": "NULL",
    "measurements": "NULL",
}
_LINKED = " UNION ALL ".join(
    f"SELECT {', '.join(f'{columns.get(f, f)} AS {f}' for f in LinkedEvent.model_fields)} "
    f"FROM {SCHEMA}.{table} WHERE {key} = ANY($1::text[])"
    for table, key, columns in (
        ("sightings", "event_id", _FROM_SIGHTINGS),
        ("passage_sightings", "passage_id", _FROM_PASSAGES),
    )
)


async def linked_events(raw: asyncpg.Connection, event_ids: Sequence[str]) -> list[dict[str, Any]]:
    rows = await raw.fetch(f"{_LINKED} ORDER BY captured_at, event_id", list(event_ids))
    return [dict(r) for r in rows]


async def set_dismissed(raw: asyncpg.Connection, alert_id: str, *, reason: str) -> asyncpg.Record:
    """The dismissed alert (the caller holds its row lock, so it is there)."""
    return await raw.fetchrow(
        f"UPDATE {SCHEMA}.alerts SET status = 'dismissed', dismissed_at = now(), dismiss_reason = $2, "
        f"version = version + 1, updated_at = now() WHERE id = $1 RETURNING {ALERT_COLUMNS}",
        alert_id,
        reason,
    )


def prefix_condition(prefix: str, *, arg: int) -> str:
    """SQL for "admin code under ``prefix``" that the (city_code, last_seen, ...) index serves."""
    if len(prefix) == 6:
        return f"admin_code = ${arg}"
    if len(prefix) == 4:
        return f"city_code = ${arg}"
    return f"admin_code LIKE ${arg} || '%'"


def _literal(value: str) -> str:
    """A word as an SQL literal: the violation and kind filters are written into the statement so
    that the planner can pick their partial indexes (a parameter would not prove the predicate)."""
    if not _WORD.fullmatch(value):
        raise ValueError(f"not a plain word: {value!r}")
    return f"'{value}'"


async def search(
    raw: asyncpg.Connection,
    *,
    prefix: str,
    status: str | None,
    priority: str | None,
    violation: str | None,
    kind: str | None,
    plate: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
    covert_hits: bool = True,
) -> list[asyncpg.Record]:
    """Most recently active first (covert checkpoint hits only when ``covert_hits``). Each filter is a condition that the index chosen for the
    leading one checks on its own entries (see migration alerts_0004)."""
    where = [prefix_condition(prefix, arg=1)]
    args: list[Any] = [prefix]
    for column, value in (("status", status), ("priority", priority)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    if kind is not None:
        where.append(f"kind = {_literal(kind)}")
    if not covert_hits:
        where.append(NOT_COVERT_HIT_SQL)
    if violation is not None:
        where.append(f"violations @> ARRAY[{_literal(violation)}]::text[]")
    if plate is not None:
        # A plate's alerts, found by their exact dedup keys (a plate has few).
        args += [plate_keys(plate, prefix), plate]
        where.append(f"dedup_key = ANY(${len(args) - 1}::text[]) AND plate = ${len(args)}")
    if after is not None:
        args += [after[0], after[1]]
        where.append(f"(last_seen, id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    sql = (
        f"SELECT {ALERT_COLUMNS} FROM {SCHEMA}.alerts WHERE {' AND '.join(where)} "
        f"ORDER BY last_seen DESC, id DESC LIMIT ${len(args)}"
    )
    return await raw.fetch(sql, *args)
