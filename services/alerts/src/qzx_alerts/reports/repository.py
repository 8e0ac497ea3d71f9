"""Report figures, computed in SQL over alerts' own tables (sightings for events, alerts for the loop,
accident_facts for accidents, hazards for the ledger)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from qzx_alerts.alerts.columns import NOT_COVERT_HIT_SQL
from qzx_alerts.db import SCHEMA
from qzx_common.contracts.accidents import MAJOR_ACCIDENT_DEATHS

# Local wall-clock time of a timestamptz, for a fixed offset in seconds ($4).
_LOCAL = "((captured_at AT TIME ZONE 'UTC') + make_interval(secs => $4))"
_IN = "captured_at >= $1 AND captured_at < $2 AND admin_code LIKE $3 || '%'"
# The alerts raised in the period, covert hits left out (a report is an export: they never leave the force).
_RAISED = f"first_seen >= $1 AND first_seen < $2 AND admin_code LIKE $3 || '%' AND {NOT_COVERT_HIT_SQL}"


async def event_counts(
    raw: asyncpg.Connection, *, start: datetime, end: datetime, prefix: str, offset_s: int, top: int
) -> dict[str, Any]:
    """The period's events by violation, local hour, local day and city, and the ``top`` devices
    (hotspots), in one scan of the period's sightings: two hashed grouping sets, by (UTC hour,
    city) and by (device, violation); hours and days are read off the UTC hours, the violations
    summed over the devices (integer keys hash without a sort; a sort spilled to disk)."""
    rows = await raw.fetch(
        f"""
        SELECT GROUPING(hour, city) AS by_device, hour, city, device_id, violation, count(*) AS n,
               min(admin_code) AS admin_code, sum(lat) AS lat_sum, sum(lon) AS lon_sum
        FROM (SELECT floor(extract(epoch FROM captured_at) / 3600)::bigint AS hour,
                     left(admin_code, 4) AS city, device_id, violation, admin_code, lat, lon
              FROM {SCHEMA}.sightings WHERE {_IN}) AS s
        GROUP BY GROUPING SETS ((hour, city), (device_id, violation))
        """,
        start,
        end,
        prefix,
    )
    dims: dict[str, dict[str, int]] = {"hour": {}, "day": {}, "city": {}}
    for r in rows:
        if not r["by_device"]:
            local = datetime.fromtimestamp(r["hour"] * 3600 + offset_s, UTC)
            _add(dims, hour=local.hour, day=local.date(), city=r["city"], n=r["n"])
    return _event_figures(dims, (r for r in rows if r["by_device"]), top)


# The rollups' day and month keys are China Standard Time days and months (alerts_0015): they
# answer a report at this offset; any other offset reads the sightings.
ROLLUP_OFFSET_S = 8 * 3600
ROLLUP_AREA_LENGTH = 2  # ``plate_months`` keeps the province's plates (alerts_0015)


def _rollup(table: str) -> str:
    """A rollup's rows: those folded into ``table`` and those still fresh (alerts_0015, 0016); a key
    may have several, so readers sum them."""
    return f"(SELECT * FROM {SCHEMA}.{table} UNION ALL SELECT * FROM {SCHEMA}.{table}_fresh)"


async def fold_rollups(raw: asyncpg.Connection) -> bool:
    """Fold the rollups' fresh rows into one row per key, unless another process is folding
    (False). The caller commits."""
    if not await raw.fetchval("SELECT pg_try_advisory_xact_lock(hashtext('alerts.fold_sighting_rollups'))"):
        return False
    await raw.execute(f"SELECT {SCHEMA}.fold_sighting_rollups(); SELECT {SCHEMA}.fold_alert_rollups()")
    return True


async def event_counts_rolled_up(
    raw: asyncpg.Connection, *, first: date, after: date, prefix: str, top: int
) -> dict[str, Any]:
    """``event_counts`` of the local calendar month [first, after) from the rollups (at
    ``ROLLUP_OFFSET_S``), summed in SQL: ``sighting_days`` for the hours, days and cities,
    ``sighting_device_months`` for the violations and the hotspots (ties in code-point order, as
    ``_hotspots`` breaks them)."""
    dims = await raw.fetch(
        f"""
        WITH d AS MATERIALIZED (
            SELECT day, admin_code, n, by_hour FROM {_rollup("sighting_days")} AS r
            WHERE day >= $1 AND day < $2 AND admin_code LIKE $3 || '%'
        )
        SELECT 'day' AS dim, to_char(day, 'YYYY-MM-DD') AS key, sum(n)::bigint AS n FROM d GROUP BY day
        UNION ALL
        SELECT 'city', left(admin_code, 4) || '00', sum(n)::bigint FROM d GROUP BY left(admin_code, 4)
        UNION ALL
        SELECT 'hour', (i - 1)::text, sum(c)::bigint FROM d, unnest(by_hour) WITH ORDINALITY AS u(c, i)
        GROUP BY i HAVING sum(c) > 0
        """,
        first,
        after,
        prefix,
    )
    out: dict[str, Any] = {"hour": {}, "day": {}, "city": {}, "violation": {}, "hotspots": []}
    for r in dims:
        out[r["dim"]][r["key"]] = r["n"]
    devices = await raw.fetch(
        f"""
        WITH d AS MATERIALIZED (
            SELECT device_id, violation, sum(n) AS n, min(admin_code) AS admin_code,
                   sum(lat_sum) AS lat_sum, sum(lon_sum) AS lon_sum
            FROM {_rollup("sighting_device_months")} AS r WHERE month >= $1 AND month < $2 AND admin_code LIKE $3 || '%'
            GROUP BY 1, 2
        )
        SELECT 'violation' AS dim, violation AS key, sum(n)::bigint AS n, NULL AS admin_code,
               NULL::float8 AS lat, NULL::float8 AS lon, NULL AS top_violation
        FROM d GROUP BY violation
        UNION ALL
        (SELECT 'hotspot', device_id, sum(n)::bigint, min(admin_code), sum(lat_sum) / sum(n),
                sum(lon_sum) / sum(n), (array_agg(violation ORDER BY n DESC, violation COLLATE "C"))[1]
         FROM d GROUP BY device_id ORDER BY sum(n) DESC, device_id COLLATE "C" LIMIT $4)
        """,
        first,
        after,
        prefix,
        top,
    )
    for r in devices:
        if r["dim"] == "violation":
            out["violation"][r["key"]] = r["n"]
        else:
            out["hotspots"].append(
                {"device_id": r["key"], "admin_code": r["admin_code"], "lat": r["lat"], "lon": r["lon"]}
                | {"count": r["n"], "top_violation": r["top_violation"]}
            )
    out["hotspots"].sort(key=lambda s: (-s["count"], s["device_id"]))  # UNION ALL keeps no order
    return out


def _add(dims: dict[str, dict[str, int]], *, hour: int, day: date, city: str, n: int) -> None:
    for dim, k in (("hour", str(hour)), ("day", day.isoformat()), ("city", city + "00")):
        dims[dim][k] = dims[dim].get(k, 0) + n


def _event_figures(dims: dict[str, dict[str, int]], devices: Iterable[Any], top: int) -> dict[str, Any]:
    """The figures of ``event_counts``: ``dims`` (by hour, day and city) and the violations and
    hotspots from rows of (device_id, violation, n, admin_code, lat_sum, lon_sum)."""
    by_violation: dict[str, int] = {}
    by_device: dict[str, dict[str, Any]] = {}
    for r in devices:
        by_violation[r["violation"]] = by_violation.get(r["violation"], 0) + r["n"]
        dev = by_device.setdefault(r["device_id"], {"device_id": r["device_id"], "by": {}, "at": []})
        dev["by"][r["violation"]] = r["n"]
        dev["at"].append((r["admin_code"], r["lat_sum"], r["lon_sum"]))
    return dims | {"violation": by_violation, "hotspots": _hotspots(by_device, top)}


def _hotspots(devices: dict[str, dict[str, Any]], top: int) -> list[dict[str, Any]]:
    """The busiest devices (ties by id), each with its commonest violation (ties by name)."""
    spots = []
    for dev in devices.values():
        count = sum(dev["by"].values())
        spots.append(
            {
                "device_id": dev["device_id"],
                "admin_code": min(a for a, *_ in dev["at"]),
                "lat": sum(lat for _, lat, _ in dev["at"]) / count,
                "lon": sum(lon for _, _, lon in dev["at"]) / count,
                "count": count,
                "top_violation": min(dev["by"], key=lambda v: (-dev["by"][v], v)),
            }
        )
    spots.sort(key=lambda s: (-s["count"], s["device_id"]))
    return spots[:top]


async def repeat_offenders(
    raw: asyncpg.Connection, *, start: datetime, end: datetime, prefix: str, limit: int
) -> list[dict[str, Any]]:
    rows = await raw.fetch(
        f"""
        SELECT plate, count(*) AS count, array_agg(DISTINCT violation ORDER BY violation) AS violations,
               max(captured_at) AS last_seen
        FROM {SCHEMA}.sightings WHERE {_IN} AND plate IS NOT NULL
        GROUP BY plate HAVING count(*) >= 2 ORDER BY count(*) DESC, plate LIMIT $4
        """,
        start,
        end,
        prefix,
        limit,
    )
    return [dict(r) | {"violations": list(r["violations"])} for r in rows]


async def repeat_offenders_rolled_up(
    raw: asyncpg.Connection, *, month: date, start: datetime, end: datetime, prefix: str, limit: int
) -> list[dict[str, Any]]:
    """``repeat_offenders`` of a local ``month`` [start, end) for a prefix of ``ROLLUP_AREA_LENGTH``
    digits: the busiest plates from ``plate_months``, then their violations and last sighting
    from their own sightings (the plate index). The busiest are among the folded rows' busiest
    (read from the index on n) and the plates with fresh rows: a plate in neither has at least
    ``limit`` plates before it whatever the fresh rows add."""
    rows = await raw.fetch(
        f"""
        WITH fresh AS (
            SELECT plate, sum(n) AS n FROM {SCHEMA}.plate_months_fresh WHERE month = $5 AND area = $3 GROUP BY plate
        ),
        candidates AS (
            (SELECT plate FROM {SCHEMA}.plate_months WHERE month = $5 AND area = $3 ORDER BY n DESC, plate LIMIT $4)
            UNION SELECT plate FROM fresh
        ),
        top AS (
            SELECT c.plate, coalesce(p.n, 0) + coalesce(f.n, 0) AS n
            FROM candidates c
            LEFT JOIN {SCHEMA}.plate_months p ON p.month = $5 AND p.area = $3 AND p.plate = c.plate
            LEFT JOIN fresh f ON f.plate = c.plate
            WHERE coalesce(p.n, 0) + coalesce(f.n, 0) >= 2 ORDER BY 2 DESC, c.plate LIMIT $4
        )
        SELECT top.plate, top.n AS count, array_agg(DISTINCT s.violation ORDER BY s.violation) AS violations,
               max(s.captured_at) AS last_seen
        FROM top JOIN {SCHEMA}.sightings s
             ON s.plate = top.plate AND s.captured_at >= $1 AND s.captured_at < $2 AND s.admin_code LIKE $3 || '%'
        GROUP BY top.plate, top.n ORDER BY top.n DESC, top.plate
        """,
        start,
        end,
        prefix,
        limit,
        month,
    )
    return [dict(r) | {"violations": list(r["violations"])} for r in rows]


# What each count of the loop is of one alert, 0 or 1: alerts_0016 keeps the same in ``alert_months``
# (a migration is its own snapshot; test_reports_rollups holds the two to the same figures).
LOOP_COUNTS = {
    "raised": "true",
    "dispatched": "dispatched_at IS NOT NULL",
    "signed": "signed_at IS NOT NULL",
    "feedback": "status = 'resolved' AND outcome IS NOT NULL",
    "resolved": "status = 'resolved'",
    "dismissed": "status = 'dismissed'",
    "escalated": "escalated_at IS NOT NULL",
}
# The times the percentiles are of, each to the precision of ``duration_bucket`` (alerts_0016).
DURATIONS = {
    "sign": "extract(epoch FROM signed_at - dispatched_at)",
    "resolve": "extract(epoch FROM resolved_at - first_seen)",
}
# ``alert_duration_months`` keeps cities: it answers the province and a city.
DURATION_ROLLUP_AREA_LENGTH = 4
_PERCENTILES = {"median": 0.5, "p90": 0.9}


def _loop_counts(alerts: str) -> str:
    """The loop's counts of ``alerts`` (priority, kind, outcome, area and the LOOP_COUNTS, one
    row an alert or a rollup key): the totals, and by priority, kind, outcome and area."""
    return f"""
        SELECT CASE WHEN GROUPING(priority) = 0 THEN 'priority' WHEN GROUPING(kind) = 0 THEN 'kind'
                    WHEN GROUPING(outcome) = 0 THEN 'outcome' WHEN GROUPING(area) = 0 THEN 'area' END AS dim,
               coalesce(priority, kind, outcome, area) AS key,
               {", ".join(f"sum({c}) AS {c}" for c in LOOP_COUNTS)}
        FROM ({alerts}) AS a GROUP BY GROUPING SETS ((), (priority), (kind), (outcome), (area))
        HAVING sum(raised) <> 0"""


async def alert_figures(
    raw: asyncpg.Connection, *, start: datetime, end: datetime, prefix: str, child_len: int
) -> dict[str, Any]:
    """The command loop for alerts raised in the period (first seen inside it), read from the
    alerts: the counts by priority, kind, outcome and child jurisdiction
    (``left(admin_code, child_len)``), and the percentiles of the times to sign and resolve."""
    counted = ", ".join(f"({c})::int AS {name}" for name, c in LOOP_COUNTS.items())
    counts = await raw.fetch(
        _loop_counts(
            f"SELECT priority, kind, outcome, left(admin_code, $4) AS area, {counted} "
            f"FROM {SCHEMA}.alerts WHERE {_RAISED}"
        ),
        start,
        end,
        prefix,
        child_len,
    )
    buckets = ", ".join(f"{SCHEMA}.duration_bucket({d}) AS {m}" for m, d in DURATIONS.items())
    durations = await raw.fetch(
        f"""
        SELECT metric, bucket, count(*) AS n
        FROM (SELECT {buckets} FROM {SCHEMA}.alerts WHERE {_RAISED}) AS a
        CROSS JOIN LATERAL (VALUES {", ".join(f"('{m}', {m})" for m in DURATIONS)}) AS d(metric, bucket)
        WHERE bucket IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2
        """,
        start,
        end,
        prefix,
    )
    return _alert_figures(counts, durations)


async def alert_figures_rolled_up(
    raw: asyncpg.Connection, *, month: date, prefix: str, child_len: int
) -> dict[str, Any]:
    """``alert_figures`` of a local calendar ``month`` from the rollups (at ``ROLLUP_OFFSET_S``),
    for a prefix of at most ``DURATION_ROLLUP_AREA_LENGTH`` digits."""
    counts = await raw.fetch(
        _loop_counts(
            f"SELECT priority, kind, nullif(outcome, '') AS outcome, left(admin_code, $3) AS area, "
            f"{', '.join(LOOP_COUNTS)} FROM {_rollup('alert_months')} AS r "
            "WHERE month = $1 AND admin_code LIKE $2 || '%' AND NOT covert"
        ),
        month,
        prefix,
        child_len,
    )
    durations = await raw.fetch(
        f"""
        SELECT metric, bucket, sum(n) AS n FROM {_rollup("alert_duration_months")} AS r
        WHERE month = $1 AND city_code LIKE $2 || '%' AND NOT covert
        GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2
        """,
        month,
        prefix,
    )
    return _alert_figures(counts, durations)


def _alert_figures(counts: Iterable[Any], durations: Iterable[Any]) -> dict[str, Any]:
    """The figures from the grouped counts (``_loop_counts``) and the durations' histograms
    (metric, bucket, n in bucket order)."""
    breakdown: dict[str, dict[str, int]] = {"priority": {}, "kind": {}, "outcome": {}}
    by_area: dict[str, dict[str, int]] = {}
    total: dict[str, Any] = dict.fromkeys(LOOP_COUNTS, 0)
    for r in counts:
        if r["dim"] is None:
            total = {c: int(r[c]) for c in LOOP_COUNTS}
        elif r["dim"] == "area":
            by_area[r["key"]] = {k: int(r[k]) for k in ("raised", "dispatched", "signed", "feedback")} | {
                "handled": int(r["resolved"])
            }
        elif r["key"] is not None:  # alerts without an outcome are not an outcome
            breakdown[r["dim"]][r["key"]] = int(r["raised"])
    histograms: dict[str, list[tuple[float, int]]] = {m: [] for m in DURATIONS}
    for r in durations:
        histograms[r["metric"]].append((r["bucket"], int(r["n"])))
    for metric, histogram in histograms.items():
        for name, fraction in _PERCENTILES.items():
            total[f"{metric}_{name}"] = percentile_cont(histogram, fraction)
    return total | {"by": breakdown, "by_area": by_area}


def percentile_cont(histogram: list[tuple[float, int]], fraction: float) -> float | None:
    """PostgreSQL's ``percentile_cont(fraction)`` of the values a histogram counts ((value, count)
    in value order): interpolated between the values either side of ``fraction * (count - 1)``."""
    count = sum(n for _, n in histogram)
    if not count:
        return None
    position = fraction * (count - 1)
    below, above = math.floor(position), math.ceil(position)
    values: dict[int, float] = {}
    seen = 0
    for value, n in histogram:
        for index in (below, above):
            if seen <= index < seen + n:
                values[index] = value
        seen += n
        if above < seen:
            break
    return values[below] + (values[above] - values[below]) * (position - below)


# Accidents of a period by the child jurisdiction they happened in (``left(admin_code, $4)``).
_ACCIDENTS_IN = "occurred_at >= $1 AND occurred_at < $2 AND admin_code LIKE $3 || '%'"


async def accidents_by_area(
    raw: asyncpg.Connection, *, start: datetime, end: datetime, prefix: str, child_len: int
) -> dict[str, dict[str, int]]:
    rows = await raw.fetch(
        f"""
        SELECT left(admin_code, $4) AS code, count(*) AS accidents, sum(injured) AS injured,
               sum(killed) AS killed, count(*) FILTER (WHERE killed >= {MAJOR_ACCIDENT_DEATHS}) AS major,
               count(*) FILTER (WHERE rural) AS rural, count(*) FILTER (WHERE ebike_involved) AS ebike,
               count(*) FILTER (WHERE severity = 'property_only') AS property_only,
               count(*) FILTER (WHERE severity = 'injury') AS injury,
               count(*) FILTER (WHERE severity = 'fatal') AS fatal
        FROM {SCHEMA}.accident_facts WHERE {_ACCIDENTS_IN}
        GROUP BY 1
        """,
        start,
        end,
        prefix,
        child_len,
    )
    return {r["code"]: {k: int(v) for k, v in r.items() if k != "code"} for r in rows}


async def accidents_by_hour(
    raw: asyncpg.Connection, *, start: datetime, end: datetime, prefix: str, offset_s: int
) -> list[int]:
    rows = await raw.fetch(
        f"""
        SELECT extract(hour FROM (occurred_at AT TIME ZONE 'UTC') + make_interval(secs => $4))::int AS h,
               count(*) AS n
        FROM {SCHEMA}.accident_facts WHERE {_ACCIDENTS_IN} GROUP BY 1
        """,
        start,
        end,
        prefix,
        float(offset_s),
    )
    by = {r["h"]: r["n"] for r in rows}
    return [by.get(h, 0) for h in range(24)]


# The hazard workflow (identified → assigned → rectifying → rectified → verified, or reopened):
# the states that count as rectified, and the columns the figures need. Until the ledger has
# these columns only hazards found are counted (the others are null).
RECTIFIED_STATES = ("rectified", "verified")
WORKFLOW_COLUMNS = {"state", "deadline", "rectified_at"}


async def hazard_workflow(raw: asyncpg.Connection) -> bool:
    """Whether the hazard ledger has the workflow columns."""
    names = await raw.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'hazards'",
        SCHEMA,
    )
    return {r["column_name"] for r in names} >= WORKFLOW_COLUMNS


async def hazards_by_area(
    raw: asyncpg.Connection, *, start: datetime, end: datetime, prefix: str, child_len: int, workflow: bool
) -> dict[str, dict[str, int | None]]:
    """Hazards found in the period (created in it); with the workflow, those rectified in it, and
    at the period's end those open (not rectified) and, of those, overdue (past their deadline)."""
    done = ", ".join(f"'{s}'" for s in RECTIFIED_STATES)
    workflow_sql = (
        f"""count(*) FILTER (WHERE state IN ({done}) AND rectified_at >= $1 AND rectified_at < $2),
            count(*) FILTER (WHERE created_at < $2 AND state NOT IN ({done})),
            count(*) FILTER (WHERE created_at < $2 AND state NOT IN ({done}) AND deadline < $2)"""
        if workflow
        else "NULL::bigint, NULL::bigint, NULL::bigint"
    )
    rows = await raw.fetch(
        f"""
        SELECT left(admin_code, $4) AS code,
               count(*) FILTER (WHERE created_at >= $1 AND created_at < $2) AS found,
               {workflow_sql}
        FROM {SCHEMA}.hazards WHERE admin_code LIKE $3 || '%'
        GROUP BY 1
        """,
        start,
        end,
        prefix,
        child_len,
    )
    figures = (
        {"found": r[1], "rectified": r[2], "open": r[3], "overdue": r[4]} | {"code": r[0]} for r in rows
    )
    # an area whose hazards are all outside the period (and none open) is not in its league
    return {f.pop("code"): f for f in figures if any(f.values())}
