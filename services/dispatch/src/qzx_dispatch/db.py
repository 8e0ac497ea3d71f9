from qzx_common.db import make_base
from qzx_common.kafka.outbox import outbox_table

SCHEMA = "dispatch"
Base = make_base(SCHEMA)
outbox = outbox_table(Base.metadata)
