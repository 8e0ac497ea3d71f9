"""The dispatch app factory: what dispatch adds to the shared assembly. Nothing is built at import time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from qzx_common.db import transaction
from qzx_common.runtime import Runtime
from qzx_common.settings import to_plain_url
from qzx_common.topics import ACCIDENTS_ACCEPTED, ALERTS
from qzx_common.web.capacity import Capacity
from qzx_common.web.serve import serve
from qzx_common.web.service import service_app
from qzx_dispatch.aid.router import router as aid_router
from qzx_dispatch.clock import Clock, SystemClock
from qzx_dispatch.consumer import ACCIDENTS_GROUP, GROUP, accidents_handler, alerts_handler
from qzx_dispatch.db import SCHEMA
from qzx_dispatch.escalations import stream as escalation_stream
from qzx_dispatch.escalations.router import router as escalations_router
from qzx_dispatch.escalations.webhook import WebhookDeliverer
from qzx_dispatch.manual.router import router as manual_router
from qzx_dispatch.org import reference
from qzx_dispatch.org.router import router as org_router
from qzx_dispatch.patrol import idempotency
from qzx_dispatch.patrol.notifier import UnitNotifier
from qzx_dispatch.patrol.router import router as patrol_router
from qzx_dispatch.settings import DispatchSettings, get_settings
from qzx_dispatch.shifts.router import router as shifts_router
from qzx_dispatch.shutdown import on_stop_signal
from qzx_dispatch.state import DispatchState
from qzx_dispatch.supervision.router import router as supervision_router
from qzx_dispatch.tasks.events import CHANNEL
from qzx_dispatch.tasks.router import router as tasks_router
from qzx_dispatch.tasks.watcher import DeadlineWatcher

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(
    settings: DispatchSettings | None = None,
    *,
    consume: bool = True,
    watch: bool = True,
    clock: Clock | None = None,
) -> FastAPI:
    """``consume``: run the alerts.v1 consumer; ``watch``: run the deadline watcher loop (tests
    drive ``app.state.service.watcher.tick()`` themselves with a manual clock)."""
    settings = settings or get_settings()
    clock = clock or SystemClock()
    if settings.escalation_webhook_url and not settings.escalation_webhook_secret:
        raise ValueError("QZX_ESCALATION_WEBHOOK_URL needs QZX_ESCALATION_WEBHOOK_SECRET (the signing key)")

    @asynccontextmanager
    async def start(rt: Runtime) -> AsyncIterator[DispatchState]:
        stopping = asyncio.Event()
        async with transaction(rt.sessions) as s:
            await reference.seed(s)
        notifier = UnitNotifier(dsn=to_plain_url(settings.database_url), channel=CHANNEL)
        await notifier.start()
        escalations = UnitNotifier(dsn=to_plain_url(settings.database_url), channel=escalation_stream.CHANNEL)
        await escalations.start()
        watcher = DeadlineWatcher(
            sessions=rt.sessions, settings=settings, clock=clock, on_change=rt.relay.wake
        )
        webhook = WebhookDeliverer(sessions=rt.sessions, settings=settings, clock=clock)
        background = []
        if watch:
            background.append(asyncio.create_task(watcher.run(), name="dispatch-deadline-watcher"))
            background.append(asyncio.create_task(webhook.run(), name="escalation-webhook"))
        pruner = idempotency.prune_periodically(
            rt.sessions,
            retention=timedelta(hours=settings.idempotency_retention_h),
            every_s=settings.idempotency_prune_every_s,
            stopping=stopping,
        )
        background.append(asyncio.create_task(pruner, name="idempotency-pruner"))
        if consume:
            rt.consume(
                topics=[ALERTS], group=GROUP, handle=alerts_handler(rt, settings=settings, clock=clock)
            )
            rt.consume(topics=[ACCIDENTS_ACCEPTED], group=ACCIDENTS_GROUP, handle=accidents_handler(rt))
        try:
            with on_stop_signal(notifier.drain), on_stop_signal(escalations.drain):
                yield DispatchState(
                    runtime=rt,
                    settings=settings,
                    clock=clock,
                    notifier=notifier,
                    escalation_notifier=escalations,
                    watcher=watcher,
                    webhook=webhook,
                    long_polls=Capacity(
                        "long-polls",
                        limit=settings.long_poll_max_held,
                        retry_after_s=settings.long_poll_retry_after_s,
                    ),
                )
        finally:
            stopping.set()
            watcher.stop()
            webhook.stop()
            await asyncio.gather(*background, return_exceptions=True)
            await notifier.stop()
            await escalations.stop()

    return service_app(
        name="dispatch",
        settings=settings,
        schema=SCHEMA,
        migrations=MIGRATIONS,
        start=start,
        routers=[
            org_router,
            shifts_router,
            tasks_router,
            manual_router,
            escalations_router,
            patrol_router,
            supervision_router,
            aid_router,
        ],
    )


def main() -> None:
    settings = get_settings()
    serve(
        lambda: create_app(settings),
        service="dispatch",
        host=settings.host,
        port=settings.dispatch_port,
        log_level=settings.log_level,
        log_json=settings.log_json,
    )


def migrate() -> int:
    """`python -m qzx_dispatch migrate`: this service's schema to head and the topics created, then exit."""
    from qzx_common.migrate import Target, run

    return run(get_settings(), [Target(SCHEMA, MIGRATIONS)], service="dispatch")
