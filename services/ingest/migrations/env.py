from qzx_common.migrations_env import run
from qzx_ingest.db import SCHEMA, Base
from qzx_ingest.violations import models as _violations  # noqa: F401

run(Base.metadata, SCHEMA)
