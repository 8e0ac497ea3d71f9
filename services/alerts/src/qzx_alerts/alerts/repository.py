"""Alert rows: bulk upserts for the consumers, keyset reads for the API, the change log for SSE."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from qzx_alerts.alerts.merge import OpenAlert
from qzx_alerts.alerts.views import ALERT_COLUMNS, STATE_COLUMNS
from qzx_alerts.db import SCHEMA
from qzx_alerts.scoring.rules import Rules

TERMINAL = ("resolved", "dismissed")
NOTIFY_CHANNEL = "qzx_alert_changes"
# One writer at a time appends to alert_changes, so ids become visible in commit order and a
# reader resuming after id N can never miss a smaller id that commits later.
_CHANGES_LOCK = 0x71_7A_78_0A_1E_27


def key_lock_ids(keys: Sequence[str]) -> list[int]:
    """Stable 63-bit advisory-lock ids, sorted (every transaction locks in the same order)."""
    return sorted({int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8).digest()) >> 1 for k in keys})


async def lock_keys(raw: Any, keys: Sequence[str]) -> None:
    """Serialise deduplication per key across replicas (racing groups span partitions)."""
    if keys:
        await raw.execute(
            "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) WITH ORDINALITY AS u(k, n) ORDER BY n",
            key_lock_ids(keys),
        )


async def open_alerts(raw: Any, keys: Sequence[str], *, since: datetime) -> list[Any]:
    return await raw.fetch(
        f"SELECT {ALERT_COLUMNS} FROM {SCHEMA}.alerts WHERE dedup_key = ANY($1::text[]) "
        "AND last_seen >= $2 AND status <> ALL($3::text[])",
        list(keys),
        since,
        list(TERMINAL),
    )


_UPSERT = f"""
INSERT INTO {SCHEMA}.alerts AS a
    (id, kind, dedup_key, priority, score, factors, violations, plate, plates, admin_code, city_code, lat, lon,
     road, km, device_id, first_seen, last_seen, count, event_ids, rules_version, sign_deadline_s,
     feedback_deadline_s)
SELECT id, kind, k, pr, sc, f::jsonb, string_to_array(v, ','), pl, string_to_array(pls, ','), ac, left(ac, 4),
       la, lo, rd, km, dev, fs, ls, n, string_to_array(eids, ','), $21, sd, fd
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::text[], $7::text[], $8::text[],
            $9::text[], $10::text[], $11::float8[], $12::float8[], $13::text[], $14::float8[], $15::text[],
            $16::timestamptz[], $17::timestamptz[], $18::int[], $19::text[], $20::int[], $22::int[])
     AS u(id, kind, k, pr, sc, f, v, pl, pls, ac, la, lo, rd, km, dev, fs, ls, n, eids, sd, fd)
ORDER BY id
ON CONFLICT (id) DO UPDATE SET
    priority = EXCLUDED.priority, score = EXCLUDED.score, factors = EXCLUDED.factors,
    violations = EXCLUDED.violations, plates = EXCLUDED.plates, admin_code = EXCLUDED.admin_code,
    city_code = EXCLUDED.city_code, lat = EXCLUDED.lat, lon = EXCLUDED.lon, road = EXCLUDED.road,
    km = EXCLUDED.km, device_id = EXCLUDED.device_id, first_seen = LEAST(a.first_seen, EXCLUDED.first_seen),
    last_seen = GREATEST(a.last_seen, EXCLUDED.last_seen), count = EXCLUDED.count,
    event_ids = EXCLUDED.event_ids, rules_version = EXCLUDED.rules_version,
    sign_deadline_s = EXCLUDED.sign_deadline_s, feedback_deadline_s = EXCLUDED.feedback_deadline_s,
    version = a.version + 1, updated_at = now()
RETURNING {", ".join("a." + c.strip() for c in STATE_COLUMNS.split(","))}
"""


async def upsert_scored(raw: Any, alerts: Sequence[OpenAlert], rules: Rules) -> list[Any]:
    """Write what scoring owns (never status or task fields, which lifecycle owns); returns the
    STATE_COLUMNS of each row written (the rest is what ``alerts`` hold)."""
    if not alerts:
        return []
    deadlines = [rules.priorities[a.priority] for a in alerts]
    return await raw.fetch(
        _UPSERT,
        [a.id for a in alerts],
        [a.kind for a in alerts],
        [a.dedup_key for a in alerts],
        [a.priority.value for a in alerts],
        [a.score for a in alerts],
        [orjson.dumps(a.factors).decode() for a in alerts],
        [",".join(a.violations) for a in alerts],
        [a.plate for a in alerts],
        [",".join(a.plates) for a in alerts],
        [a.admin_code for a in alerts],
        [a.lat for a in alerts],
        [a.lon for a in alerts],
        [a.road for a in alerts],
        [a.km for a in alerts],
        [a.device_id for a in alerts],
        [a.first_seen for a in alerts],
        [a.last_seen for a in alerts],
        [a.count for a in alerts],
        [",".join(a.event_ids) for a in alerts],
        [d.sign_for_s for d in deadlines],
        rules.version,
        [d.feedback_s for d in deadlines],
    )


async def append_changes(raw: Any, changes: Sequence[tuple[str, str, bytes]]) -> None:
    """Log each new alert state (alert id, admin code, payload) for the SSE stream and wake
    listeners on commit."""
    await raw.execute("SELECT pg_advisory_xact_lock($1)", _CHANGES_LOCK)
    await raw.copy_records_to_table(
        "alert_changes", schema_name=SCHEMA, columns=["alert_id", "admin_code", "payload"], records=changes
    )
    await raw.execute(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')")


async def changes_after(raw: Any, *, after: int, jur: str, limit: int) -> list[Any]:
    return await raw.fetch(
        f"SELECT id, payload FROM {SCHEMA}.alert_changes WHERE id > $1 AND admin_code LIKE $2 "
        "ORDER BY id LIMIT $3",
        after,
        jur + "%",
        limit,
    )


async def last_change_id(raw: Any) -> int:
    return int(await raw.fetchval(f"SELECT coalesce(max(id), 0) FROM {SCHEMA}.alert_changes"))


async def get(raw: Any, alert_id: str, *, for_update: bool = False) -> Any:
    lock = " FOR UPDATE" if for_update else ""
    return await raw.fetchrow(f"SELECT {ALERT_COLUMNS} FROM {SCHEMA}.alerts WHERE id = $1{lock}", alert_id)


async def linked_events(raw: Any, event_ids: Sequence[str]) -> list[dict[str, Any]]:
    rows = await raw.fetch(
        "SELECT event_id, plate, violation, device_id, lat, lon, admin_code, captured_at, vehicle_class, "
        f"measurements FROM {SCHEMA}.sightings WHERE event_id = ANY($1::text[]) ORDER BY captured_at, event_id",
        list(event_ids),
    )
    return [dict(r) for r in rows]


async def set_dismissed(raw: Any, alert_id: str, *, reason: str) -> Any:
    return await raw.fetchrow(
        f"UPDATE {SCHEMA}.alerts SET status = 'dismissed', dismissed_at = now(), dismiss_reason = $2, "
        f"version = version + 1, updated_at = now() WHERE id = $1 RETURNING {ALERT_COLUMNS}",
        alert_id,
        reason,
    )


def prefix_condition(prefix: str, *, arg: int) -> str:
    """SQL for "admin code under ``prefix``" that the (city_code|admin_code, last_seen) indexes serve."""
    if len(prefix) == 6:
        return f"admin_code = ${arg}"
    if len(prefix) == 4:
        return f"city_code = ${arg}"
    return f"admin_code LIKE ${arg} || '%'"


async def search(
    raw: Any,
    *,
    prefix: str,
    status: str | None,
    priority: str | None,
    violation: str | None,
    kind: str | None,
    plate: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Any]:
    where = [prefix_condition(prefix, arg=1)]
    args: list[Any] = [prefix]
    for column, value in (("status", status), ("priority", priority), ("kind", kind), ("plate", plate)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    if violation is not None:
        args.append([violation])
        where.append(f"violations @> ${len(args)}::text[]")
    if after is not None:
        args += [after[0], after[1]]
        where.append(f"(last_seen, id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    sql = (
        f"SELECT {ALERT_COLUMNS} FROM {SCHEMA}.alerts WHERE {' AND '.join(where)} "
        f"ORDER BY last_seen DESC, id DESC LIMIT ${len(args)}"
    )
    return await raw.fetch(sql, *args)
