"""The whole system in this test session's event loop: ingest, alerts and dispatch, each app built
from its own settings object, all three on one database and one topic prefix of the real embedded
stack, with their consumers, outbox relays and dispatch's deadline watcher running.

The e2e system gets a database and a topic prefix of its own (derived from the session's stack), so
that the services' own test suites, whose apps run in the same session with the same consumer
group names, never share its partitions or its rows.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from qzx_dev.demo.seed import seed_demo
from qzx_dev.embedded import create_database, drop_database
from qzx_dev.testing import Stack, eventually

sys.path.insert(0, str(Path(__file__).parent))  # e2e_harness, shared with the test module

from e2e_harness import OffsetClock, Served, System


@dataclass(frozen=True)
class Place:
    db_settings: dict[str, str]  # as the services connect to the database and migrate it
    bootstrap: str
    topic_prefix: str


# Package scope: the apps' connection pools close when this folder's tests are done, so that the
# later tests' services fit in a server's default 100 connections (CI's PostgreSQL 15).
@pytest.fixture(scope="package")
def e2e_place(stack: Stack) -> Iterator[Place]:
    name = f"qzx_e2e_{uuid.uuid4().hex[:10]}"
    url = create_database(stack.server_url, name)
    yield Place(stack.db_settings(url), stack.bootstrap, f"{stack.topic_prefix}e2e.")
    drop_database(stack.server_url, name)


@pytest.fixture(scope="package")
async def system(e2e_place: Place) -> AsyncIterator[System]:
    from qzx_alerts.main import create_app as alerts_app
    from qzx_alerts.settings import AlertsSettings
    from qzx_dispatch.main import create_app as dispatch_app
    from qzx_dispatch.settings import DispatchSettings
    from qzx_ingest.main import create_app as ingest_app
    from qzx_ingest.settings import IngestSettings

    common: dict[str, Any] = {
        **e2e_place.db_settings,
        "kafka_bootstrap": e2e_place.bootstrap,
        "topic_prefix": e2e_place.topic_prefix,
        "log_json": False,
    }
    ingest_settings = IngestSettings(**common)
    # The hazard overdue check runs often: a deadline a few seconds ahead escalates within the test.
    alerts_settings = AlertsSettings(
        **common, sse_poll_s=0.5, sse_heartbeat_s=5.0, hazard_overdue_check_s=0.5
    )
    # The watcher runs as in production (a short tick), on a clock the missed-sign-by test moves
    # forward; the demo organisation (units on duty around the clock in every city) is seeded
    # through the API below, as `make run` seeds it.
    dispatch_settings = DispatchSettings(**common, deadline_tick_s=0.25)
    clock = OffsetClock()
    apps = (
        ingest_app(ingest_settings),
        alerts_app(alerts_settings),
        dispatch_app(dispatch_settings, clock=clock),
    )
    async with AsyncExitStack() as stack:
        # One after another (a deterministic start); the consumer groups are awaited below.
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
        await seed_demo(dispatch_settings.jwt_secret, dispatch_app=apps[2], now=clock.now())
        producer = AIOKafkaProducer(bootstrap_servers=e2e_place.bootstrap, linger_ms=0, acks="all")
        await producer.start()
        stack.push_async_callback(producer.stop)
        alerts_url = await stack.enter_async_context(Served(apps[1]))
        system = System(
            ingest=apps[0],
            alerts=apps[1],
            dispatch=apps[2],
            alerts_url=alerts_url,
            producer=producer,
            bootstrap=e2e_place.bootstrap,
            topic_prefix=e2e_place.topic_prefix,
            secret=ingest_settings.jwt_secret,
            clock=clock,
        )
        stack.push_async_callback(system.aclose)
        await eventually(system.joined, timeout=60, interval=0.1)
        yield system
