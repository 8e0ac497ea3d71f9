"""The one app assembly: every service (and the dev console) is built here, so that each ``main.py``
is a short list of what that service adds.

``web_app`` is what every app has (error handlers and their OpenAPI documents, the middleware);
``service_app`` adds what every service has: request guards, /healthz /livez /readyz /metrics, the
audit and dead-letter routes, and a lifespan that starts the ``Runtime`` (database, migrations,
producer, outbox relay), hands it to the service's own ``start`` and keeps the typed state that
``start`` yields for the service's deps module (``service_state``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from pydantic_settings import BaseSettings

from qzx_common.runtime import Runtime, settle_heap
from qzx_common.settings import CommonSettings
from qzx_common.web.audit_api import audit_router
from qzx_common.web.auth import require_strong_secret
from qzx_common.web.dead_letters import dead_letter_router
from qzx_common.web.errors import install_error_handlers
from qzx_common.web.health import health_router
from qzx_common.web.limits import install_request_guards
from qzx_common.web.observability import TELEMETRY, install_observability

VERSION = "0.1.0"


@dataclass
class ServiceState:
    """What a service's lifespan built; each service extends it with its own (typed) parts."""

    runtime: Runtime


StateT = TypeVar("StateT", bound=ServiceState)
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def install_middleware(app: FastAPI, settings: BaseSettings, *, name: str) -> None:
    """The one place middleware is installed, for every app (Starlette runs the last added first).
    A service (``CommonSettings``) also gets the request guards; the dev console does not. Request
    ids, the access log and HTTP metrics wrap them all."""
    if isinstance(settings, CommonSettings):
        install_request_guards(app, settings)
    install_observability(app, service=name)


def web_app(
    *,
    name: str,
    settings: BaseSettings,
    lifespan: Lifespan,
    routers: Sequence[APIRouter] = (),
    **options: Any,
) -> FastAPI:
    """An app with qzx's error bodies and middleware; ``options`` go to ``FastAPI`` (e.g. no docs)."""
    options = {"telemetry": TELEMETRY, **options}  # traced once tracing is on, the probes left out
    app = FastAPI(title=f"qzx {name}", version=VERSION, lifespan=lifespan, **options)
    app.state.settings = settings
    install_error_handlers(app)  # and the OpenAPI documents of the bodies it sends
    install_middleware(app, settings, name=name)
    for router in routers:
        app.include_router(router)
    return app


def service_app(
    *,
    name: str,
    settings: CommonSettings,
    schema: str,
    migrations: Path,
    start: Callable[[Runtime], AbstractAsyncContextManager[StateT]],
    routers: Sequence[APIRouter],
    session_sql: Sequence[str] = (),
) -> FastAPI:
    """A service: ``start(runtime)`` starts what the service adds (consumers, relays, background
    tasks), yields its state and stops them on exit; the runtime stops after it."""
    require_strong_secret(settings)  # refuse to start with a published or short secret

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = await Runtime.start(
            settings=settings, schema=schema, migrations_dir=migrations, session_sql=session_sql
        )
        app.state.runtime = rt
        try:
            async with start(rt) as state:
                app.state.service = state
                settle_heap()
                yield
        finally:
            await rt.stop()

    app = web_app(name=name, settings=settings, lifespan=lifespan)
    app.include_router(health_router(Runtime.ready_checks(app), live_checks=Runtime.live_checks(app)))
    for router in routers:
        app.include_router(router)
    app.include_router(audit_router(schema))
    app.include_router(dead_letter_router(schema))
    return app


def service_state(request: Request, kind: type[StateT]) -> StateT:
    """The typed state of the service that serves ``request`` (for the service's deps module)."""
    state = request.app.state.service
    if not isinstance(state, kind):  # pragma: no cover - a wiring error, not a request's
        raise TypeError(f"app state is {type(state).__name__}, not {kind.__name__}")
    return state
