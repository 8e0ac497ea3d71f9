"""Run an app factory under uvicorn the way every qzx process does."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from qzx_common.logs import configure_logging
from qzx_common.tracing import configure_tracing

if TYPE_CHECKING:
    import uvicorn

# Held long-polls and SSE streams must not delay a stop for long: after this, open connections
# are closed (clients reconnect with their cursor or Last-Event-ID and lose nothing).
GRACEFUL_SHUTDOWN_S = 5
# Connections the kernel queues for accept: a fleet of phones reconnecting at once (after a restart)
# overflowed uvicorn's 2,048, and each overflow is a reset connection. Linux caps it at
# net.core.somaxconn (4,096 by default; raise that for more).
LISTEN_BACKLOG = 16_384


def server_config(app: Any, *, host: str, port: int, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration of every qzx process (tests serve apps with it too)."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        backlog=LISTEN_BACKLOG,
        # The apps decide whose X-Forwarded-For to believe (QZX_FORWARDED_ALLOW_IPS,
        # web.limits); uvicorn's own default would believe any process on 127.0.0.1.
        proxy_headers=False,
        **options,
    )


def serve(
    factory: Callable[[], FastAPI], *, service: str, host: str, port: int, log_level: str, log_json: bool
) -> None:
    import uvicorn

    configure_logging(service=service, level=log_level, json=log_json)
    configure_tracing(service)  # on only when OTEL_EXPORTER_OTLP_ENDPOINT is set
    uvicorn.Server(server_config(factory, host=host, port=port, factory=True)).run()
