"""/healthz (process alive), /readyz (database reachable), /metrics (Prometheus)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

ReadyCheck = Callable[[], Awaitable[None]]


def health_router(ready_checks: dict[str, ReadyCheck]) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        failed = {}
        for name, check in ready_checks.items():
            try:
                await check()
            except Exception as exc:
                failed[name] = str(exc) or type(exc).__name__
        if failed:
            return JSONResponse({"error": "not_ready", "detail": failed}, status_code=503)
        return JSONResponse({"status": "ready"})

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
