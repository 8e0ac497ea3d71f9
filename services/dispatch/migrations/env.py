from qzx_common.migrations_env import run
from qzx_dispatch.db import SCHEMA, Base

run(Base.metadata, SCHEMA)
