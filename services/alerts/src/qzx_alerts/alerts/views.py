"""An alert as the Alert contract (alerts.v1, the API and the SSE stream all carry this): from a
stored row, or, on the scoring path, from the alert in memory plus the few columns only the row
knows (lifecycle fields, timestamps), so that nothing written is read back and decoded again."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from qzx_common.contracts.alerts import COVERT, HOTLIST_HIT

if TYPE_CHECKING:
    from qzx_alerts.alerts.merge import OpenAlert
    from qzx_alerts.scoring.rules import Rules

ALERT_COLUMNS = (
    "id, kind, dedup_key, status, priority, score, factors, violations, plate, plates, admin_code, lat, lon, "
    "road, km, device_id, first_seen, last_seen, count, event_ids, rules_version, sign_deadline_s, "
    "feedback_deadline_s, task_id, outcome, dismiss_reason, version, created_at, updated_at"
)
# What a scoring upsert returns: the lifecycle's fields and what the database decides (the earliest
# first_seen and latest last_seen when a row it did not read is updated, version, timestamps).
STATE_COLUMNS = (
    "id, status, first_seen, last_seen, task_id, outcome, dismiss_reason, version, created_at, updated_at"
)


# A checkpoint hit on a covert hotlist entry is for commanders only (docs/contract.md): these
# recognise one in SQL, in a row or payload, and in a published state's bytes.
COVERT_HIT_SQL = (
    f'NOT (kind = \'{HOTLIST_HIT}\' AND factors @> \'[{{"name": "hotlist", "value": "{COVERT}"}}]\'::jsonb)'
)


def is_covert_hit(kind: str, factors: Any) -> bool:
    if kind != HOTLIST_HIT:
        return False
    if isinstance(factors, str | bytes):
        factors = orjson.loads(factors)
    return any(f["name"] == "hotlist" and f["value"] == COVERT for f in factors)


def is_covert_hit_state(payload: bytes) -> bool:
    """A published alert state (JSON) that ``is_covert_hit``; decoded only when it may be one."""
    if HOTLIST_HIT.encode() not in payload:
        return False
    state = orjson.loads(payload)
    return is_covert_hit(state["kind"], state["factors"])


def alert_payload(row: Any) -> dict[str, Any]:
    factors = row["factors"]
    if isinstance(factors, str):
        factors = orjson.loads(factors)
    return {
        "id": row["id"],
        "status": row["status"],
        "priority": row["priority"],
        "score": row["score"],
        "factors": factors,
        "violations": list(row["violations"]),
        "plate": row["plate"],
        "admin_code": row["admin_code"],
        "location": {
            "lat": row["lat"],
            "lon": row["lon"],
            "admin_code": row["admin_code"],
            "road": row["road"],
            "km": row["km"],
            "device_id": row["device_id"],
        },
        "first_seen": row["first_seen"],
        "last_seen": row["last_seen"],
        "count": row["count"],
        "event_ids": list(row["event_ids"]),
        "task_id": row["task_id"],
        "kind": row["kind"],
        "plates": list(row["plates"]),
        "sign_deadline_s": row["sign_deadline_s"],
        "feedback_deadline_s": row["feedback_deadline_s"],
        "version": row["version"],
        "updated_at": row["updated_at"],
        "created_at": row["created_at"],
        "outcome": row["outcome"],
        "dismiss_reason": row["dismiss_reason"],
        "rules_version": row["rules_version"],
    }


def alert_json(row: Any) -> bytes:
    return orjson.dumps(alert_payload(row))


def created_state(a: OpenAlert, now: datetime) -> dict[str, Any]:
    """The STATE_COLUMNS of an alert just inserted (``repository.write_alerts``)."""
    return {
        "id": a.id,
        "status": "new",
        "first_seen": a.first_seen,
        "last_seen": a.last_seen,
        "task_id": None,
        "outcome": None,
        "dismiss_reason": None,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


def scored_payload(a: OpenAlert, state: Any, rules: Rules) -> dict[str, Any]:
    """What ``alert_payload`` would return for the row just written from ``a`` (``state``: the
    STATE_COLUMNS the upsert returned)."""
    deadlines = rules.priorities[a.priority]
    return {
        "id": a.id,
        "status": state["status"],
        "priority": a.priority.value,
        "score": a.score,
        "factors": orjson.Fragment(a.factors_json()),
        "violations": a.violations,
        "plate": a.plate,
        "admin_code": a.admin_code,
        "location": {
            "lat": a.lat,
            "lon": a.lon,
            "admin_code": a.admin_code,
            "road": a.road,
            "km": a.km,
            "device_id": a.device_id,
        },
        "first_seen": state["first_seen"],
        "last_seen": state["last_seen"],
        "count": a.count,
        "event_ids": a.event_ids,
        "task_id": state["task_id"],
        "kind": a.kind,
        "plates": a.plates,
        "sign_deadline_s": deadlines.sign_for_s,
        "feedback_deadline_s": deadlines.feedback_s,
        "version": state["version"],
        "updated_at": state["updated_at"],
        "created_at": state["created_at"],
        "outcome": state["outcome"],
        "dismiss_reason": state["dismiss_reason"],
        "rules_version": rules.version,
    }
