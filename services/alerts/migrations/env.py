from qzx_alerts.alerts import models as _alerts  # noqa: F401  (register tables)
from qzx_alerts.db import SCHEMA, Base
from qzx_alerts.hazards import models as _hazards  # noqa: F401
from qzx_alerts.history import models as _history  # noqa: F401
from qzx_alerts.hotlists import models as _hotlists  # noqa: F401
from qzx_common.migrations_env import run

run(Base.metadata, SCHEMA)
