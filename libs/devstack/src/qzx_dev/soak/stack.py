"""The stack a long run starts for itself: embedded PostgreSQL (fsync on) and broker of its own,
the three services on them as processes (the fault suite's deployment), logged at WARNING."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from qzx_dev.embedded import (
    SERVICE_ROLE,
    EmbeddedBroker,
    EmbeddedPostgres,
    create_service_role,
    free_port,
    start_broker,
    start_postgres,
)
from qzx_dev.faults.deployment import Deployment, deployment
from qzx_dev.testing import Stack


@dataclass(frozen=True, slots=True)
class OwnStack:
    deployment: Deployment
    postgres: EmbeddedPostgres
    broker: EmbeddedBroker


@contextlib.asynccontextmanager
async def own_stack(label: str, out: Path) -> AsyncIterator[OwnStack]:
    """Started under a temporary directory, stopped and removed at the end, its logs copied to
    ``out / "logs"`` first. ``label`` names the directory and prefixes the topics."""
    os.environ.setdefault("QZX_DEV_MODE", "1")  # the services accept the development secret
    state = Path(tempfile.mkdtemp(prefix=f"qzx-{label}-"))
    logs = state / "logs"
    logs.mkdir()
    pg = start_postgres(data_dir=state / "pg", port=free_port(), log_path=logs / "postgres.log")
    broker = start_broker(port=free_port(), log_path=logs / "broker.log")
    try:
        await asyncio.to_thread(create_service_role, pg.url())
        stack = Stack(pg.url(), pg.url(), broker.bootstrap, f"{label}.", SERVICE_ROLE)
        async with deployment(stack, logs, env={"QZX_LOG_LEVEL": "WARNING"}) as d:
            yield OwnStack(d, pg, broker)
    finally:
        broker.stop()
        pg.stop()
        shutil.copytree(logs, out / "logs", dirs_exist_ok=True)
        shutil.rmtree(state, ignore_errors=True)
