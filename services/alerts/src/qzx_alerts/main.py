"""The alerts app factory: what alerts adds to the shared assembly. Nothing is built at import time."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from qzx_alerts.alerts.metrics import sample_alerts
from qzx_alerts.alerts.router import router as alerts_router
from qzx_alerts.alerts.stream import ChangeNotifier, ChangeTail
from qzx_alerts.blackspots.jobs import BlackspotJobs
from qzx_alerts.blackspots.router import router as blackspots_router
from qzx_alerts.checkpoints import consumer as checkpoints
from qzx_alerts.consumer import (
    TASKS_GROUP,
    Scoring,
    change_relay,
    consume_accidents,
    consume_violation_cells,
    consume_violations,
    tasks_handler,
)
from qzx_alerts.db import SCHEMA
from qzx_alerts.divisions import reference as divisions
from qzx_alerts.divisions.router import router as divisions_router
from qzx_alerts.exchange.router import router as exchange_router
from qzx_alerts.hazards.cache import HazardCache
from qzx_alerts.hazards.overdue import check_periodically
from qzx_alerts.hazards.router import router as hazards_router
from qzx_alerts.hotlists.router import router as hotlists_router
from qzx_alerts.reports.folding import fold_once
from qzx_alerts.reports.router import router as reports_router
from qzx_alerts.scoring.rules import load_rules
from qzx_alerts.sessions import SESSION_SQL
from qzx_alerts.settings import AlertsSettings, get_settings
from qzx_alerts.state import AlertsState
from qzx_common.periodic import every
from qzx_common.runtime import Runtime
from qzx_common.settings import to_plain_url
from qzx_common.topics import DISPATCH_TASKS
from qzx_common.web.capacity import Capacity
from qzx_common.web.exchange import parse_partners
from qzx_common.web.serve import serve
from qzx_common.web.service import service_app

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: AlertsSettings | None = None, *, consume: bool = True) -> FastAPI:
    settings = settings or get_settings()
    parse_partners(settings.exchange_keys, province=settings.province_code)  # fail at start, not per request
    rules = load_rules(settings.rules_path)  # a broken rules file fails the start, not the scoring

    @asynccontextmanager
    async def start(rt: Runtime) -> AsyncIterator[AlertsState]:
        scoring = Scoring(rules=rules, hazards=HazardCache(max_age_s=settings.hazard_cache_s))
        notifier = ChangeNotifier()
        await notifier.start(to_plain_url(settings.database_url))
        try:
            published = change_relay(rt, retention_s=settings.change_log_retention_h * 3600)
            rt.run_beside(published.run(), name="alerts-change-relay", stop=published.stop)
            overdue_stop = asyncio.Event()
            rt.run_beside(
                check_periodically(
                    rt.sessions, every_s=settings.hazard_overdue_check_s, stopping=overdue_stop
                ),
                name="hazard-overdue-check",
                stop=overdue_stop.set,
            )
            fold_stop = asyncio.Event()
            rt.run_beside(
                every(
                    settings.rollup_fold_s,
                    functools.partial(fold_once, rt.engine),
                    stopping=fold_stop,
                    failed="folding the report rollups failed",
                ),
                name="report-rollup-fold",
                stop=fold_stop.set,
            )
            jobs = BlackspotJobs(rt.engine)
            rt.run_beside(jobs.run(), name="blackspot-jobs", stop=jobs.stop)
            if rt.sampler is not None:  # the change log's backlog and the alert gauges on /metrics
                rt.sampler.watch(published)
                rt.sampler.probe(sample_alerts)
            if consume:
                consume_violations(rt, scoring, published)
                consume_accidents(rt, rules, published)
                consume_violation_cells(rt)
                rt.consume(topics=[DISPATCH_TASKS], group=TASKS_GROUP, handle=tasks_handler(rt, published))
                await checkpoints.start(rt, settings, rules, published)
            yield AlertsState(
                runtime=rt,
                settings=settings,
                rules=rules,
                scoring=scoring,
                change_tail=ChangeTail(engine=rt.engine, notifier=notifier, poll_s=settings.sse_poll_s),
                change_relay=published,
                sse_streams=Capacity(
                    "SSE streams", limit=settings.sse_max_streams, retry_after_s=settings.sse_retry_after_s
                ),
                divisions=divisions.load(),
                blackspot_jobs=jobs,
            )
        finally:
            await notifier.stop()

    return service_app(
        name="alerts",
        settings=settings,
        schema=SCHEMA,
        migrations=MIGRATIONS,
        session_sql=SESSION_SQL,
        start=start,
        routers=[
            alerts_router,
            hotlists_router,
            hazards_router,
            blackspots_router,
            divisions_router,
            reports_router,
            exchange_router,
        ],
    )


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
