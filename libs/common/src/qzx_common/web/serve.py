"""Run an app factory under uvicorn the way every qzx process does."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from qzx_common.logs import configure_logging

# Held long-polls and SSE streams must not delay a stop for long: after this, open connections
# are closed (clients reconnect with their cursor or Last-Event-ID and lose nothing).
GRACEFUL_SHUTDOWN_S = 5


def serve(
    factory: Callable[[], FastAPI], *, service: str, host: str, port: int, log_level: str, log_json: bool
) -> None:
    import uvicorn

    configure_logging(service=service, level=log_level, json=log_json)
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
