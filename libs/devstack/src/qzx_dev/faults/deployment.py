"""A private deployment for a test: its own database on the test server and its own topic prefix,
the three services as processes, and `qzx reconcile` run against exactly that."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from qzx_common.kafka.admin import ensure_topics
from qzx_common.reconcile import Report, reconcile
from qzx_common.settings import CommonSettings
from qzx_dev.embedded import create_database, drop_database
from qzx_dev.faults.services import SERVICES, ServiceProcess
from qzx_dev.testing import Stack


@dataclass
class Deployment:
    database_url: str  # as the owner: what a test reads and plants with
    bootstrap: str
    prefix: str
    services: dict[str, ServiceProcess]

    def settings(self) -> CommonSettings:
        return CommonSettings(
            database_url=self.database_url, kafka_bootstrap=self.bootstrap, topic_prefix=self.prefix
        )

    def env(self) -> dict[str, str]:
        """What `qzx reconcile` needs to find this deployment."""
        return {
            "QZX_DATABASE_URL": self.database_url,
            "QZX_KAFKA_BOOTSTRAP": self.bootstrap,
            "QZX_TOPIC_PREFIX": self.prefix,
        }

    async def reconcile(self, *, timeout_s: float = 60) -> Report:
        return await reconcile(self.settings(), timeout_s=timeout_s)

    async def wait_ready(self, *, timeout: float = 90) -> float:
        started = time.monotonic()
        for s in self.services.values():
            await s.wait_ready(timeout=timeout)
        return time.monotonic() - started

    async def seed_demo(self) -> None:
        """The demo organisation (units on duty around the clock), through dispatch's API."""
        from datetime import UTC, datetime

        from qzx_dev.demo.seed import seed_demo

        dispatch = self.services["dispatch"]
        secret = dispatch.env.get("QZX_JWT_SECRET") or CommonSettings().jwt_secret
        await seed_demo(secret, dispatch_url=dispatch.url, now=datetime.now(UTC))

    async def settled(self, *, timeout: float = 90) -> Report:
        """Reconcile until it is clean (everything in flight has landed); fails with the last report."""
        deadline = time.monotonic() + timeout
        while True:
            for s in self.services.values():
                s.assert_running()
            # One pass reads every topic: a large run's pass may take longer than a minute.
            report = await self.reconcile(timeout_s=max(60.0, timeout))
            if report.clean:
                return report
            if time.monotonic() > deadline:
                raise AssertionError(f"reconcile not clean within {timeout}s:\n{report.render()}")
            await asyncio.sleep(1.0)


@asynccontextmanager
async def deployment(
    stack: Stack,
    logs: Path,
    *,
    env: dict[str, str] | None = None,
    database_server: str | None = None,
    start: bool = True,
) -> AsyncIterator[Deployment]:
    """``database_server`` (a maintenance URL) puts the database on another server than the stack's
    (a private PostgreSQL a test stops); ``env`` adds settings, e.g. a proxied database URL."""
    server = database_server or stack.server_url
    name = f"qzx_faults_{uuid.uuid4().hex[:8]}"
    database_url = await asyncio.to_thread(create_database, server, name)
    prefix = f"{stack.topic_prefix}f{uuid.uuid4().hex[:6]}."
    await ensure_topics(stack.bootstrap, prefix=prefix)
    base = os.environ | {
        "QZX_DATABASE_URL": stack.service_url(database_url),
        "QZX_MIGRATE_DATABASE_URL": database_url,
        "QZX_KAFKA_BOOTSTRAP": stack.bootstrap,
        "QZX_TOPIC_PREFIX": prefix,
        "QZX_LOG_JSON": "false",
        "QZX_CONSUMER_STALL_S": "5",
        "QZX_TOPIC_CHECK_S": "2",  # a broker restarted empty gets its topics back soon
    }
    base |= env or {}
    services = {n: ServiceProcess(n, dict(base), logs / f"{n}.log") for n in SERVICES}
    d = Deployment(database_url, stack.bootstrap, prefix, services)
    try:
        if start:
            for s in services.values():
                s.start()
            await d.wait_ready()
            await d.seed_demo()
        yield d
    finally:
        for s in services.values():
            s.stop()
        await asyncio.to_thread(drop_database, server, name)
