"""The console against a small real upstream: both served by uvicorn on free ports in this loop.

The upstream stands in for a service: it echoes what reached it, streams Server-Sent Events whose
second event waits for the test, holds a silent stream open until the caller hangs up, and
breaks a body off halfway.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from qzx_console.main import create_app
from qzx_console.settings import ConsoleSettings
from qzx_dev.embedded import free_port
from qzx_dev.testing import serve

CONSOLE_TOKEN = "header.payload.signature-of-the-dev-console"


@dataclass
class Upstream:
    name: str
    url: str = ""
    release_second_event: asyncio.Event = field(default_factory=asyncio.Event)
    silent_stream_closed: asyncio.Event = field(default_factory=asyncio.Event)
    # Last-Event-ID of each request to the resumable stream (None: a fresh start).
    resumed_from: list[str | None] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/v1/alerts/stream")
        async def stream(request: Request) -> StreamingResponse:
            last_id = request.headers.get("last-event-id", "")

            async def events() -> AsyncIterator[bytes]:
                yield f'id: 42\nevent: alert\ndata: {{"n": 1, "resumed_after": "{last_id}"}}\n\n'.encode()
                await self.release_second_event.wait()
                yield b'id: 43\nevent: alert\ndata: {"n": 2}\n\n'

            return StreamingResponse(events(), media_type="text/event-stream")

        @app.get("/v1/alerts/resumable")
        async def resumable(request: Request) -> StreamingResponse:
            """Ends after its first event; resumed after it, sends a two-line event and stays open."""
            last_id = request.headers.get("last-event-id")
            self.resumed_from.append(last_id)

            async def events() -> AsyncIterator[bytes]:
                if last_id is None:
                    yield b'retry: 50\n\n: hello\n\nid: 7\nevent: alert\ndata: {"id": "a"}\n\n'
                    return
                yield b'id: 8\nevent: alert\ndata: {"id": "b",\ndata:  "n": 2}\n\n'
                await asyncio.Event().wait()  # until the caller hangs up (Starlette then cancels this)

            return StreamingResponse(events(), media_type="text/event-stream")

        @app.get("/v1/missing")
        async def missing() -> JSONResponse:
            return JSONResponse(
                {"error": "alert_not_found", "detail": "no such alert"},
                status_code=404,
                headers={"X-Upstream": self.name},
            )

        app.mount("/v1/silent", self._silent_stream)
        app.mount("/v1/broken", self._broken_stream)

        @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
        async def echo(request: Request) -> JSONResponse:
            return JSONResponse(
                {
                    "service": self.name,
                    "method": request.method,
                    "raw_path": request.scope["raw_path"].decode("latin-1"),
                    "query": request.url.query,
                    "body": (await request.body()).decode(),
                    "authorization": request.headers.get("authorization"),
                    "idempotency_key": request.headers.get("idempotency-key"),
                    "content_type": request.headers.get("content-type"),
                    "forwarded_for": request.headers.getlist("x-forwarded-for"),
                },
                status_code=201 if request.method == "POST" else 200,
                headers={"X-Upstream": self.name},
            )

        return app

    async def _silent_stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Sends one comment, then nothing, until the caller disconnects."""
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        await send({"type": "http.response.body", "body": b": hello\n\n", "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass
        self.silent_stream_closed.set()

    async def _broken_stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Starts a chunked body and breaks off: the server aborts the connection mid-body."""
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"first part", "more_body": True})
        raise RuntimeError("upstream broke off (on purpose, in a test)")


@pytest.fixture(scope="module")
async def upstreams() -> AsyncIterator[dict[str, Upstream]]:
    ups = {name: Upstream(name) for name in ("ingest", "alerts")}
    async with serve(ups["ingest"].app()) as ingest_url, serve(ups["alerts"].app()) as alerts_url:
        ups["ingest"].url, ups["alerts"].url = ingest_url, alerts_url
        yield ups


@pytest.fixture(scope="module")
async def console(upstreams: dict[str, Upstream]) -> AsyncIterator[str]:
    """The console, proxying to the two upstreams; dispatch points at a port nobody listens on."""
    settings = ConsoleSettings(
        ingest_url=upstreams["ingest"].url,
        alerts_url=upstreams["alerts"].url + "/",
        dispatch_url=f"http://127.0.0.1:{free_port()}",
        console_token=CONSOLE_TOKEN,
    )
    async with serve(create_app(settings)) as url:
        yield url


@pytest.fixture
async def client(console: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=console, timeout=10, trust_env=False) as c:
        yield c
