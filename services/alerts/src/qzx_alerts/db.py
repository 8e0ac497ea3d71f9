from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import BigInteger, Boolean, ColumnElement, DateTime, Float, FromClause, Integer, String
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeEngine

from qzx_common.db import schema_metadata
from qzx_common.kafka.deadletter import dead_letters_table
from qzx_common.kafka.outbox import outbox_table

SCHEMA = "alerts"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


outbox = outbox_table(Base.metadata)
dead_letters = dead_letters_table(Base.metadata)


# Scratch tables of each session (emptied at commit), for set-based statements to read a staged
# batch: the batch's sightings (history.repository) and scored alerts (alerts.repository), each
# shaped like the columns of its table that a batch writes, in that order (the records list them
# so). They are created once per connection (``sessions.SESSION_SQL``, run by the pool on
# connect): a CREATE in the batch's transaction would cost a round trip a statement, and one made
# in a transaction that rolls back is gone again.
#
# Arrays travel as comma-joined text (event ids, plates and violations have no commas) and JSON as
# text, cast back in SQL (``ScratchTable.read_back``): the connection's own codecs for those types
# would encode them again.
_SCRATCH_TYPES: tuple[tuple[type[TypeEngine[Any]], str], ...] = (
    (ARRAY, "text"),
    (JSONB, "text"),
    (Boolean, "bool"),
    (BigInteger, "int8"),
    (Integer, "int"),
    (Float, "float8"),
    (DateTime, "timestamptz"),
    (String, "text"),
)


def scratch_type(column: ColumnElement[Any]) -> str:
    """The type a column is staged (and a NULL of it written) as."""
    return next(pg for kind, pg in _SCRATCH_TYPES if isinstance(column.type, kind))


@dataclass(frozen=True, slots=True)
class ScratchTable:
    """A scratch table: a batch's position ``n``, ``extra`` columns of its own, then ``columns``
    of ``table`` (their types taken from it)."""

    name: str
    table: FromClause
    columns: tuple[str, ...]
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def names(self) -> list[str]:
        return ["n", *(n for n, _ in self.extra), *self.columns]

    def create_sql(self) -> str:
        typed = [("n", "int"), *self.extra, *((c, scratch_type(self.table.c[c])) for c in self.columns)]
        return (
            f"CREATE TEMP TABLE IF NOT EXISTS {self.name} ({', '.join(f'{c} {t}' for c, t in typed)}) "
            "ON COMMIT DELETE ROWS"
        )

    def read_back(self, column: str) -> str:
        """SQL reading a staged column as its table's type."""
        kind = self.table.c[column].type
        if isinstance(kind, ARRAY):
            return f"string_to_array({column}, ',')"
        if isinstance(kind, JSONB):
            return f"{column}::jsonb"
        return column


async def stage(raw: asyncpg.Connection, table: ScratchTable, records: Iterable[tuple[Any, ...]]) -> None:
    """Load a batch into a scratch table. A binary COPY costs the driver a third of what the same
    rows cost as array parameters, and several statements can read one staged batch."""
    await raw.copy_records_to_table(table.name, records=records, columns=table.names)
