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
    ready, live = _Checks(ready_checks), _Checks(live_checks or {})

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/livez")
    async def livez() -> JSONResponse:
        failed = await live.failures()
        if failed:
            return JSONResponse({"error": "not_live", "detail": failed}, status_code=503)
        return JSONResponse({"status": "live"})

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        failed = await ready.failures()
        if failed:
            return JSONResponse({"error": "not_ready", "detail": failed}, status_code=503)
        return JSONResponse({"status": "ready"})

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


# A check that does not answer in time has failed: a probe must not hang on a connect timeout.
CHECK_TIMEOUT_S = 3.0


class _Checks:
    """Runs the checks side by side and answers within CHECK_TIMEOUT_S whatever they do. A check
    that overruns is not cancelled (cancelling a query on a half-open connection waits on that
    connection); it is left to end by itself (the engine's command timeout bounds it), and the
    probes meanwhile join it rather than start another: at most one of each at a time."""

    def __init__(self, checks: dict[str, ReadyCheck]) -> None:
        self.checks = checks
        self.running: dict[str, asyncio.Future[None]] = {}

    def _start(self, name: str) -> asyncio.Future[None]:
        task = self.running.get(name)
        if task is None or task.done():
            task = asyncio.ensure_future(self.checks[name]())
            task.add_done_callback(_retrieve)
            self.running[name] = task
        return task

    async def failures(self) -> dict[str, str]:
        tasks = {name: self._start(name) for name in self.checks}
        if not tasks:
            return {}
        done, _ = await asyncio.wait(tasks.values(), timeout=CHECK_TIMEOUT_S)
        failed = {}
        for name, task in tasks.items():
            if task not in done:
                failed[name] = f"no answer within {CHECK_TIMEOUT_S:.0f} s"
            elif task.cancelled():
                failed[name] = "cancelled"
            elif (exc := task.exception()) is not None:
                failed[name] = str(exc) or type(exc).__name__
        return failed


def _retrieve(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()  # seen: a late failure is no "exception never retrieved" warning
