"""/healthz (process up), /livez (process up and its background loops running: a liveness probe
restarts a pod whose consumer died), /readyz (database reachable, consumers running), /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

ReadyCheck = Callable[[], Awaitable[None]]


def health_router(
    ready_checks: dict[str, ReadyCheck], *, live_checks: dict[str, ReadyCheck] | None = None
) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/livez")
    async def livez() -> JSONResponse:
        failed = await _failures(live_checks or {})
        if failed:
            return JSONResponse({"error": "not_live", "detail": failed}, status_code=503)
        return JSONResponse({"status": "live"})

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        failed = await _failures(ready_checks)
        if failed:
            return JSONResponse({"error": "not_ready", "detail": failed}, status_code=503)
        return JSONResponse({"status": "ready"})

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


# A check that does not answer in time has failed: a probe must not hang on a connect timeout.
CHECK_TIMEOUT_S = 3.0


async def _failures(checks: dict[str, ReadyCheck]) -> dict[str, str]:
    failed = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
        except TimeoutError:
            failed[name] = f"no answer within {CHECK_TIMEOUT_S:.0f} s"
        except Exception as exc:
            failed[name] = str(exc) or type(exc).__name__
    return failed
