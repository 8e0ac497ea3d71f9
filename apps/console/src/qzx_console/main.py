"""The console app factory: static pages, sign-in, proxy, geo data (and `qzx dev`'s dev token). Nothing is built at import time."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.staticfiles import PathLike
from starlette.types import Scope

from qzx_common.web.permissions import MATRIX
from qzx_common.web.serve import serve
from qzx_common.web.service import web_app
from qzx_console import geo
from qzx_console.proxy import router as proxy_router
from qzx_console.settings import ConsoleSettings
from qzx_console.signin import router as signin_router

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

    app = web_app(
        name="console",
        settings=settings,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=NO_CACHE)

    @app.get("/patrol/", include_in_schema=False)
    async def patrol() -> FileResponse:
        return FileResponse(STATIC / "patrol.html", headers=NO_CACHE)

    @app.get("/patrol/sw.js", include_in_schema=False)
    async def patrol_service_worker() -> FileResponse:
        # Served under /patrol/, not /static/: a worker's scope is the folder of its own URL.
        return FileResponse(STATIC / "patrol-sw.js", media_type="text/javascript", headers=NO_CACHE)

    @app.get("/patrol/patrol.webmanifest", include_in_schema=False)
    async def patrol_manifest() -> FileResponse:
        return FileResponse(
            STATIC / "patrol.webmanifest", media_type="application/manifest+json", headers=NO_CACHE
        )

    @app.get("/sign-in", include_in_schema=False)
    async def sign_in_page() -> FileResponse:
        return FileResponse(STATIC / "sign-in.html", headers=NO_CACHE)

    @app.get("/healthz", include_in_schema=False)
    @app.get("/readyz", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/permissions")
    async def permissions() -> dict[str, list[str]]:
        """The services' permission matrix, so that a page offers only what the role may do."""
        return {action.value: sorted(role.value for role in roles) for action, roles in MATRIX.items()}

    @app.get("/api/geo/cities")
    async def cities() -> dict[str, object]:
        return geo.cities_payload()

    @app.get("/api/geo/devices")
    async def devices() -> dict[str, object]:
        """The camera and checkpoint catalogue (reference data shared by every service)."""
        return geo.devices_payload()

    if settings.console_token:  # `qzx dev` only: a token for scripts; the pages sign in
        token = settings.console_token

        @app.get("/api/dev-token", include_in_schema=False)
        async def dev_token() -> JSONResponse:
            return JSONResponse({"token": token}, headers={"Cache-Control": "no-store"})

    app.include_router(signin_router)
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
