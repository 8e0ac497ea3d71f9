from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import DeclarativeBase

from qzx_common.db import schema_metadata
from qzx_common.kafka.deadletter import dead_letters_table
from qzx_common.kafka.outbox import outbox_table

SCHEMA = "alerts"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


outbox = outbox_table(Base.metadata)
dead_letters = dead_letters_table(Base.metadata)


# Scratch tables of each session (emptied at commit), for set-based statements to read a staged
# batch: the batch's sightings (history.repository) and scored alerts (alerts.repository), in the
# order their records list the columns. They are created once per connection (``SESSION_SQL``,
# run by the pool on connect): a CREATE in the batch's transaction would cost a round trip a
# statement, and one made in a transaction that rolls back is gone again.
SCRATCH_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "batch_sightings": (
        ("n", "int"),
        ("event_id", "text"),
        ("plate", "text"),
        ("violation", "text"),
        ("device_id", "text"),
        ("lat", "float8"),
        ("lon", "float8"),
        ("admin_code", "text"),
        ("captured_at", "timestamptz"),
        ("group_key", "text"),
        ("vehicle_class", "text"),
        ("measurements", "text"),
    ),
    "scored_alerts": (
        ("n", "int"),
        ("unseen", "bool"),
        ("id", "text"),
        ("kind", "text"),
        ("dedup_key", "text"),
        ("priority", "text"),
        ("score", "float8"),
        ("factors", "text"),
        ("violations", "text"),
        ("plate", "text"),
        ("plates", "text"),
        ("admin_code", "text"),
        ("lat", "float8"),
        ("lon", "float8"),
        ("road", "text"),
        ("km", "float8"),
        ("device_id", "text"),
        ("first_seen", "timestamptz"),
        ("last_seen", "timestamptz"),
        ("count", "int"),
        ("event_ids", "text"),
        ("sign_deadline_s", "int"),
        ("feedback_deadline_s", "int"),
    ),
}
SESSION_SQL = tuple(
    f"CREATE TEMP TABLE IF NOT EXISTS {name} ({', '.join(f'{c} {t}' for c, t in columns)}) ON COMMIT DELETE ROWS"
    for name, columns in SCRATCH_TABLES.items()
)


async def stage(raw: Any, table: str, records: Iterable[tuple[Any, ...]]) -> None:
    """Load a batch into a scratch table (``SCRATCH_TABLES``). A binary COPY costs the driver a
    third of what the same rows cost as array parameters, and several statements can read one
    staged batch.

    Keep JSON and arrays as text here and cast them in SQL: the connection's own codecs for those
    types would encode them again."""
    await raw.copy_records_to_table(table, records=records, columns=[n for n, _ in SCRATCH_TABLES[table]])
