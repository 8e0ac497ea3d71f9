"""The ingest app factory: what ingest adds to the shared assembly. Nothing is built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from qzx_common.runtime import Runtime
from qzx_common.topics import CAMERA_VIOLATIONS
from qzx_common.web.exchange import parse_partners
from qzx_common.web.serve import serve
from qzx_common.web.service import ServiceState, service_app
from qzx_ingest.accidents import consumer as accidents
from qzx_ingest.accidents.router import router as accidents_router
from qzx_ingest.consumer import GROUP, camera_handler, prepare_records
from qzx_ingest.db import SCHEMA
from qzx_ingest.exchange.router import router as exchange_router
from qzx_ingest.passages import consumer as passages
from qzx_ingest.passages.repository import SESSION_SQL as PASSAGE_SESSION_SQL
from qzx_ingest.passages.router import router as passages_router
from qzx_ingest.settings import IngestSettings, get_settings
from qzx_ingest.violations.router import router as violations_router

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: IngestSettings | None = None, *, consume: bool = True) -> FastAPI:
    settings = settings or get_settings()
    # A broken QZX_EXCHANGE_KEYS fails at start, not per request.
    parse_partners(settings.exchange_keys, province=settings.province_code)

    @asynccontextmanager
    async def start(rt: Runtime) -> AsyncIterator[ServiceState]:
        if consume:
            rt.consume(
                topics=[CAMERA_VIOLATIONS], group=GROUP, handle=camera_handler(rt), prepare=prepare_records
            )
            await passages.start(rt, settings)
            accidents.start(rt)
        yield ServiceState(runtime=rt)

    return service_app(
        name="ingest",
        settings=settings,
        schema=SCHEMA,
        migrations=MIGRATIONS,
        session_sql=PASSAGE_SESSION_SQL,
        start=start,
        routers=[violations_router, passages_router, accidents_router, exchange_router],
    )


def main() -> None:
    settings = get_settings()
    serve(
        lambda: create_app(settings),
        service="ingest",
        host=settings.host,
        port=settings.ingest_port,
        log_level=settings.log_level,
        log_json=settings.log_json,
    )


def migrate() -> int:
    """`python -m qzx_ingest migrate`: this service's schema to head and the topics created, then exit."""
    from qzx_common.migrate import Target, run

    return run(get_settings(), [Target(SCHEMA, MIGRATIONS)], service="ingest")
