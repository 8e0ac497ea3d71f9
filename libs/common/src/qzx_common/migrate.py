"""`qzx migrate` and `python -m qzx_<service> migrate`: upgrade schemas and create missing topics,
then exit. A deployment runs this once per release (a Kubernetes Job, a compose one-off) with
QZX_MIGRATE_ON_START=false in the services; replicas then start without racing for the schema."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qzx_common.db import create_engine, migrate, wait_for_database
from qzx_common.kafka.admin import ensure_topics
from qzx_common.logs import configure_logging
from qzx_common.settings import CommonSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """One service's schema and the Alembic chain that builds it."""

    schema: str
    migrations_dir: Path


async def migrate_all(
    settings: CommonSettings, targets: Sequence[Target], *, topics: bool = True, db_timeout_s: float = 120.0
) -> None:
    engine = create_engine(settings.async_migrate_url, pool_size=1, command_timeout_s=None)
    try:
        await wait_for_database(engine, timeout=db_timeout_s)
    finally:
        await engine.dispose()
    for target in targets:
        started = time.monotonic()
        await migrate(
            url=settings.async_migrate_url,
            migrations_dir=target.migrations_dir,
            schema=target.schema,
            grant_to=settings.service_role,
        )
        log.info(
            "schema at head", extra={"schema": target.schema, "seconds": round(time.monotonic() - started, 2)}
        )
    if topics:
        await ensure_topics(
            settings.kafka_bootstrap,
            prefix=settings.topic_prefix,
            partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
            min_insync_replicas=settings.topic_min_insync_replicas,
        )


def run(settings: CommonSettings, targets: Sequence[Target], *, service: str, topics: bool = True) -> int:
    """The command's body: 0 when every schema is at head (and the topics exist), 1 otherwise."""
    configure_logging(service=service, level=settings.log_level, json=settings.log_json)
    try:
        asyncio.run(migrate_all(settings, targets, topics=topics))
    except Exception:
        log.exception("migration failed")
        return 1
    return 0
