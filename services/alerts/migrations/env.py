from qzx_alerts.db import SCHEMA, Base
from qzx_common.migrations_env import run

run(Base.metadata, SCHEMA)
