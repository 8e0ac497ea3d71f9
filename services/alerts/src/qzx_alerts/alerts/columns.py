"""The alert's columns by who writes them, derived from their definitions: the Alert contract
(what is published and served), ``OpenAlert`` (what scoring owns) and the ``alerts`` table (the
types). The repository's statements, the scoring batch's scratch table and the payloads
(``alerts.schemas``) are all built from these."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from qzx_alerts.alerts.merge import ROW_FIELDS
from qzx_alerts.alerts.models import AlertRow
from qzx_alerts.db import ScratchTable
from qzx_common.contracts.alerts import COVERT, HOTLIST_HIT, Alert, AlertLocation

TABLE = AlertRow.__table__
LOCATION_FIELDS = tuple(AlertLocation.model_fields)
# The contract's fields as columns: its location's fields are the row's own.
PAYLOAD_COLUMNS = tuple(
    dict.fromkeys(
        c for name in Alert.model_fields for c in (LOCATION_FIELDS if name == "location" else (name,))
    )
)
# What an alert is read as: the payload and what scoring needs to merge into it.
ALERT_COLUMNS = ", ".join(dict.fromkeys((*PAYLOAD_COLUMNS, *ROW_FIELDS)))
ARRAY_COLUMNS = frozenset(c.name for c in TABLE.c if isinstance(c.type, ARRAY))
JSON_COLUMNS = tuple(c.name for c in TABLE.c if isinstance(c.type, JSONB))

# What scoring writes: the alert in memory (OpenAlert), the deadlines of its priority, and two
# columns computed in SQL (the city filter's and the rules' version).
DEADLINE_COLUMNS = ("sign_deadline_s", "feedback_deadline_s")
SCORED_COLUMNS = (*ROW_FIELDS, *DEADLINE_COLUMNS, "city_code", "rules_version")
# What names an alert (its dedup key's parts): set when it is created, never updated.
IDENTITY_COLUMNS = ("id", "kind", "dedup_key", "plate")
# Spans the database merges with what is stored (the earliest first_seen, the latest last_seen).
MERGED_SPAN = ("first_seen", "last_seen")
# What a scoring upsert returns: the span and all that scoring does not write (the lifecycle's
# fields and the database's: version, timestamps).
STATE_COLUMNS = ("id", *MERGED_SPAN, *(c for c in PAYLOAD_COLUMNS if c not in SCORED_COLUMNS))

# The scored alerts of a batch, staged (db.stage) for the insert and the upsert: OpenAlert's plain
# attributes first (read in one attrgetter), then its lists, its JSON (factors, evidence) and the
# deadlines.
ROW_LISTS = tuple(c for c in ROW_FIELDS if c in ARRAY_COLUMNS)
ROW_JSON = tuple(c for c in ROW_FIELDS if c in JSON_COLUMNS)
PLAIN_ROW_FIELDS = tuple(c for c in ROW_FIELDS if c not in ARRAY_COLUMNS and c not in JSON_COLUMNS)
STAGED_ALERTS = ScratchTable(
    "scored_alerts",
    TABLE,
    (*PLAIN_ROW_FIELDS, *ROW_LISTS, *ROW_JSON, *DEADLINE_COLUMNS),
    extra=(("unseen", "bool"),),
)


# Not a checkpoint hit on a covert hotlist entry: those are for commanders only, and never leave the
# force (docs/contract.md). The one SQL form of ``schemas.is_covert_hit``: every read that lists,
# counts or exports alerts to anyone else adds it (the alerts list, the exchange stats, the reports).
NOT_COVERT_HIT_SQL = (
    f'NOT (kind = \'{HOTLIST_HIT}\' AND factors @> \'[{{"name": "hotlist", "value": "{COVERT}"}}]\'::jsonb)'
)
