"""The dispatch app factory. Nothing is built at import time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from qzx_common.db import transaction
from qzx_common.runtime import Runtime, settle_heap
from qzx_common.settings import to_plain_url
from qzx_common.topics import ALERTS
from qzx_common.web.audit_api import audit_router
from qzx_common.web.auth import require_strong_secret
from qzx_common.web.capacity import Capacity
from qzx_common.web.dead_letters import dead_letter_router
from qzx_common.web.errors import install_error_handlers
from qzx_common.web.health import health_router
from qzx_common.web.limits import install_request_guards
from qzx_common.web.openapi import install_error_docs
from qzx_common.web.serve import serve
from qzx_dispatch.clock import Clock, SystemClock
from qzx_dispatch.consumer import GROUP, alerts_handler
from qzx_dispatch.db import SCHEMA
from qzx_dispatch.org import seed
from qzx_dispatch.org.router import router as org_router
from qzx_dispatch.patrol import idempotency
from qzx_dispatch.patrol.notifier import UnitNotifier
from qzx_dispatch.patrol.router import router as patrol_router
from qzx_dispatch.settings import DispatchSettings, get_settings
from qzx_dispatch.shifts.router import router as shifts_router
from qzx_dispatch.shutdown import on_stop_signal
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
    drive ``app.state.watcher.tick()`` themselves with a manual clock)."""
    settings = settings or get_settings()
    require_strong_secret(settings)  # refuse to start with a published or short secret
    clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = await Runtime.start(settings=settings, schema=SCHEMA, migrations_dir=MIGRATIONS)
        app.state.runtime = rt
        stopping = asyncio.Event()
        async with transaction(rt.sessions) as s:
            await seed.reference(s)
            if settings.demo_data:
                await seed.demo(s, now=clock.now())
        notifier = UnitNotifier(dsn=to_plain_url(settings.database_url), channel=CHANNEL)
        await notifier.start()
        app.state.notifier = notifier
        watcher = DeadlineWatcher(
            sessions=rt.sessions, settings=settings, clock=clock, on_change=rt.relay.wake
        )
        app.state.watcher = watcher
        background = []
        if watch:
            background.append(asyncio.create_task(watcher.run(), name="dispatch-deadline-watcher"))
        if settings.demo_data:
            background.append(
                asyncio.create_task(seed.keep_demo(rt.sessions, clock, stopping), name="demo-keeper")
            )
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
        settle_heap()
        try:
            with on_stop_signal(notifier.drain):
                yield
        finally:
            stopping.set()
            watcher.stop()
            await asyncio.gather(*background, return_exceptions=True)
            await notifier.stop()
            await rt.stop()

    app = FastAPI(title="qzx dispatch", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.long_polls = Capacity(
        "long-polls", limit=settings.long_poll_max_held, retry_after_s=settings.long_poll_retry_after_s
    )
    app.state.clock = clock
    install_error_handlers(app)
    install_error_docs(app)
    install_request_guards(app, settings)
    app.include_router(health_router(Runtime.ready_checks(app), live_checks=Runtime.live_checks(app)))
    app.include_router(audit_router(SCHEMA))
    app.include_router(dead_letter_router(SCHEMA))
    app.include_router(org_router)
    app.include_router(shifts_router)
    app.include_router(tasks_router)
    app.include_router(patrol_router)
    return app


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
