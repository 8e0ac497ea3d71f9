from sqlalchemy.orm import DeclarativeBase

from qzx_common.db import schema_metadata
from qzx_common.kafka.deadletter import dead_letters_table
from qzx_common.kafka.outbox import outbox_table

SCHEMA = "ingest"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


outbox = outbox_table(Base.metadata)
dead_letters = dead_letters_table(Base.metadata)
