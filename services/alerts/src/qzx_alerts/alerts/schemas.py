"""The alerts API's shapes, and the Alert contract's payload (alerts.v1, the API and the SSE stream
all carry it) built from a stored row or, on the scoring path, from the alert in memory plus the
few columns only the row knows (``columns.STATE_COLUMNS``), so that nothing written is read back
and decoded again. Both follow the contract model's field order."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, StringConstraints

from qzx_alerts.alerts.columns import (
    ARRAY_COLUMNS,
    DEADLINE_COLUMNS,
    JSON_COLUMNS,
    LOCATION_FIELDS,
    STATE_COLUMNS,
)
from qzx_common.contracts.alerts import HOTLIST_HIT, Alert, covert_hit

if TYPE_CHECKING:
    from qzx_alerts.alerts.merge import OpenAlert
    from qzx_alerts.scoring.rules import Rules


class AlertList(BaseModel):
    items: list[Alert]
    next_cursor: str | None


class LinkedEvent(BaseModel):
    event_id: str
    plate: str | None
    violation: str
    device_id: str
    lat: float
    lon: float
    admin_code: str
    captured_at: datetime
    vehicle_class: str | None = None
    measurements: dict[str, Any] | None = None
    # Passages only (``violation`` is then ``passage``): where on the road the checkpoint stands.
    road: str | None = None
    km: float | None = None


class AlertDetail(Alert):
    events: list[LinkedEvent]


class DismissIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]


# --- the Alert payload ------------------------------------------------------------------------

_TEMPLATE: dict[str, Any] = dict.fromkeys(Alert.model_fields)  # copied, then filled: the keys keep this order
_TOP = tuple(f for f in Alert.model_fields if f != "location")
_row_top = itemgetter(*_TOP)
_row_location = itemgetter(*LOCATION_FIELDS)
_ROW_ARRAYS = tuple(f for f in _TOP if f in ARRAY_COLUMNS)
_ROW_JSON = tuple(f for f in _TOP if f in JSON_COLUMNS)
# On the scoring path: what the upsert returned, what the rules say, and the rest from the alert.
_FROM_STATE = tuple(f for f in STATE_COLUMNS if f in _TEMPLATE)
_FROM_RULES = (*DEADLINE_COLUMNS, "rules_version")
_FROM_ALERT = tuple(f for f in _TOP if f not in _FROM_STATE and f not in _FROM_RULES)
_alert_top = attrgetter(*_FROM_ALERT)
_alert_location = attrgetter(*LOCATION_FIELDS)
_state_values = itemgetter(*_FROM_STATE)


def alert_payload(row: Mapping[str, Any]) -> dict[str, Any]:
    """The Alert of a row read with ``columns.ALERT_COLUMNS``."""
    payload = _TEMPLATE.copy()
    payload.update(zip(_TOP, _row_top(row), strict=True))
    payload["location"] = dict(zip(LOCATION_FIELDS, _row_location(row), strict=True))
    for name in _ROW_ARRAYS:
        payload[name] = list(payload[name])
    for name in _ROW_JSON:
        if isinstance(payload[name], str):
            payload[name] = orjson.loads(payload[name])
    return payload


def alert_json(row: Mapping[str, Any]) -> bytes:
    return orjson.dumps(alert_payload(row))


def created_state(a: OpenAlert, now: datetime) -> dict[str, Any]:
    """The STATE_COLUMNS of an alert just inserted (``repository.write_alerts``): the table's
    defaults."""
    return dict.fromkeys(STATE_COLUMNS) | {
        "id": a.id,
        "status": "new",
        "first_seen": a.first_seen,
        "last_seen": a.last_seen,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


def scored_payload(a: OpenAlert, state: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    """What ``alert_payload`` would return for the row just written from ``a`` (``state``: the
    STATE_COLUMNS the upsert returned)."""
    deadlines = rules.priorities[a.priority]
    payload = _TEMPLATE.copy()
    payload.update(zip(_FROM_ALERT, _alert_top(a), strict=True))
    payload.update(zip(_FROM_STATE, _state_values(state), strict=True))
    payload["priority"] = a.priority.value
    payload["factors"] = orjson.Fragment(a.factors_json())
    payload["location"] = dict(zip(LOCATION_FIELDS, _alert_location(a), strict=True))
    payload["sign_deadline_s"] = deadlines.sign_for_s
    payload["feedback_deadline_s"] = deadlines.feedback_s
    payload["rules_version"] = rules.version
    return payload


# A checkpoint hit on a covert hotlist entry is for commanders only (docs/contract.md): these
# recognise one in a row or payload, and in a published state's bytes (``columns.NOT_COVERT_HIT_SQL``
# in SQL).
def is_covert_hit(kind: str, factors: Any) -> bool:
    if kind != HOTLIST_HIT:  # the factors are decoded only when the alert may be one
        return False
    if isinstance(factors, str | bytes):
        factors = orjson.loads(factors)
    return covert_hit(kind, ((f["name"], f["value"]) for f in factors))


def is_covert_hit_state(payload: bytes) -> bool:
    """A published alert state (JSON) that ``is_covert_hit``; decoded only when it may be one."""
    if HOTLIST_HIT.encode() not in payload:
        return False
    state = orjson.loads(payload)
    return is_covert_hit(state["kind"], state["factors"])
