"""The alerts app factory. Nothing is built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from qzx_alerts.alerts.router import router as alerts_router
from qzx_alerts.alerts.stream import ChangeNotifier, ChangeTail
from qzx_alerts.consumer import (
    TASKS_GROUP,
    Scoring,
    change_relay,
    consume_violations,
    tasks_handler,
)
from qzx_alerts.db import SCHEMA, SESSION_SQL
from qzx_alerts.demo import seed_demo_data
from qzx_alerts.exchange.router import router as exchange_router
from qzx_alerts.hazards.cache import HazardCache
from qzx_alerts.hazards.router import router as hazards_router
from qzx_alerts.hotlists.router import router as hotlists_router
from qzx_alerts.reports.router import router as reports_router
from qzx_alerts.scoring.rules import load_rules
from qzx_alerts.settings import AlertsSettings, get_settings
from qzx_common.runtime import Runtime, settle_heap
from qzx_common.settings import to_plain_url
from qzx_common.topics import DISPATCH_TASKS
from qzx_common.web.audit_api import audit_router
from qzx_common.web.auth import require_strong_secret
from qzx_common.web.capacity import Capacity
from qzx_common.web.dead_letters import dead_letter_router
from qzx_common.web.errors import install_error_handlers
from qzx_common.web.exchange import parse_partners
from qzx_common.web.health import health_router
from qzx_common.web.limits import install_request_guards
from qzx_common.web.openapi import install_error_docs
from qzx_common.web.serve import serve

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: AlertsSettings | None = None, *, consume: bool = True) -> FastAPI:
    settings = settings or get_settings()
    require_strong_secret(settings)  # refuse to start with a published or short secret
    parse_partners(settings.exchange_keys, province=settings.province_code)  # fail at start, not per request
    rules = load_rules(settings.rules_path)  # a broken rules file fails the start, not the scoring

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = await Runtime.start(
            settings=settings, schema=SCHEMA, migrations_dir=MIGRATIONS, session_sql=SESSION_SQL
        )
        app.state.runtime = rt
        scoring = Scoring(rules=rules, hazards=HazardCache(max_age_s=settings.hazard_cache_s))
        app.state.scoring = scoring
        notifier = ChangeNotifier()
        await notifier.start(to_plain_url(settings.database_url))
        app.state.change_tail = ChangeTail(engine=rt.engine, notifier=notifier, poll_s=settings.sse_poll_s)
        if settings.demo_data:
            async with rt.engine.begin() as conn:
                await seed_demo_data(conn)
        published = change_relay(rt, retention_s=settings.change_log_retention_h * 3600)
        rt.run_beside(published.run(), name="alerts-change-relay", stop=published.stop)
        app.state.change_relay = published
        if consume:
            consume_violations(rt, scoring, published)
            rt.consume(topics=[DISPATCH_TASKS], group=TASKS_GROUP, handle=tasks_handler(rt, published))
        settle_heap()
        try:
            yield
        finally:
            await rt.stop()
            await notifier.stop()

    app = FastAPI(title="qzx alerts", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.sse_streams = Capacity(
        "SSE streams", limit=settings.sse_max_streams, retry_after_s=settings.sse_retry_after_s
    )
    app.state.rules = rules
    install_error_handlers(app)
    install_error_docs(app)
    install_request_guards(app, settings)
    app.include_router(health_router(Runtime.ready_checks(app), live_checks=Runtime.live_checks(app)))
    app.include_router(alerts_router)
    app.include_router(hotlists_router)
    app.include_router(hazards_router)
    app.include_router(reports_router)
    app.include_router(audit_router(SCHEMA))
    app.include_router(dead_letter_router(SCHEMA))
    app.include_router(exchange_router)
    return app


def main() -> None:
    settings = get_settings()
    serve(
        lambda: create_app(settings),
        service="alerts",
        host=settings.host,
        port=settings.alerts_port,
        log_level=settings.log_level,
        log_json=settings.log_json,
    )


def migrate() -> int:
    """`python -m qzx_alerts migrate`: this service's schema to head and the topics created, then exit."""
    from qzx_common.migrate import Target, run

    return run(get_settings(), [Target(SCHEMA, MIGRATIONS)], service="alerts")
