"""The alerts app factory. Nothing is built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from qzx_alerts.db import SCHEMA
from qzx_alerts.settings import AlertsSettings, get_settings
from qzx_common.logs import configure_logging
from qzx_common.runtime import Runtime
from qzx_common.web.errors import install_error_handlers
from qzx_common.web.health import health_router

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: AlertsSettings | None = None, *, consume: bool = True) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = await Runtime.start(settings=settings, schema=SCHEMA, migrations_dir=MIGRATIONS)
        app.state.runtime = rt
        try:
            yield
        finally:
            await rt.stop()

    app = FastAPI(title="qzx alerts", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(health_router({"database": lambda: app.state.runtime.check_database()}))
    return app


def main() -> None:
    import uvicorn

    settings = get_settings()
    configure_logging(service="alerts", level=settings.log_level, json=settings.log_json)
    uvicorn.run(
        lambda: create_app(settings),
        factory=True,
        host=settings.host,
        port=settings.alerts_port,
        log_config=None,
        access_log=False,
    )
