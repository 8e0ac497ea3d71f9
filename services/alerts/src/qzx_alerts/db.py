from sqlalchemy.orm import DeclarativeBase

from qzx_common.db import schema_metadata
from qzx_common.kafka.outbox import outbox_table

SCHEMA = "alerts"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


outbox = outbox_table(Base.metadata)
