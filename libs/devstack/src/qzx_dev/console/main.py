"""The console app factory: static page, proxy, geo data, dev token. Nothing is built at import time."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.staticfiles import PathLike
from starlette.types import Scope

from qzx_common.web.errors import error_body
from qzx_common.web.serve import serve
from qzx_common.web.service import web_app
from qzx_dev.console import geo
from qzx_dev.console.proxy import router as proxy_router
from qzx_dev.console.settings import ConsoleSettings

STATIC = Path(__file__).resolve().parent / "static"
# The page and its modules change with the code; a dev console should never show a stale copy.
NO_CACHE = {"Cache-Control": "no-cache"}


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=20)
        async with httpx.AsyncClient(limits=limits, follow_redirects=False, trust_env=False) as http:
            app.state.http = http
            yield

    app = web_app(name="console", settings=settings, lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=NO_CACHE)

    @app.get("/healthz", include_in_schema=False)
    @app.get("/readyz", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/geo/cities")
    async def cities() -> dict[str, object]:
        return geo.cities_payload()

    @app.get("/api/dev-token")
    async def dev_token(request: Request) -> JSONResponse:
        token = request.app.state.settings.console_token
        if not token:
            return JSONResponse(
                error_body("no_dev_token", "QZX_CONSOLE_TOKEN is not set; paste a token instead"),
                status_code=404,
            )
        return JSONResponse({"token": token}, headers={"Cache-Control": "no-store"})

    app.include_router(proxy_router)
    app.mount("/static", NoCacheStatic(directory=STATIC), name="static")
    return app


class NoCacheStatic(StaticFiles):
    """Static files that the browser revalidates on every load (ETag makes that cheap)."""

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(NO_CACHE)
        return response


def main() -> None:
    settings = ConsoleSettings()
    serve(
        lambda: create_app(settings),
        service="console",
        host=settings.host,
        port=settings.console_port,
        log_level=settings.log_level,
        log_json=settings.log_json,
    )
