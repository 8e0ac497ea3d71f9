from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.orm import DeclarativeBase

from qzx_common.db import schema_metadata
from qzx_common.kafka.outbox import outbox_table

SCHEMA = "alerts"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


outbox = outbox_table(Base.metadata)


async def stage(
    raw: Any, table: str, columns: Sequence[tuple[str, str]], records: Iterable[tuple[Any, ...]]
) -> None:
    """Load a batch into a scratch table of this session (created on first use, emptied at commit)
    for set-based statements to read. A binary COPY costs the driver a third of what the same rows
    cost as array parameters, and several statements can read one staged batch.

    Keep JSON and arrays as text here and cast them in SQL: the connection's own codecs for those
    types would encode them again."""
    await raw.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {table} ({', '.join(f'{n} {t}' for n, t in columns)}) "
        "ON COMMIT DELETE ROWS"
    )
    await raw.copy_records_to_table(table, records=records, columns=[n for n, _ in columns])
