"""Reverse proxy: /api/{ingest|alerts|dispatch}/<path> → the service's /<path>.

Request bodies (small JSON from the page) are read whole; responses are relayed chunk by chunk as the upstream sends them, so Server-Sent Events and
long-polls pass through unbuffered; when the browser goes away the upstream request is closed
at once (not at the next chunk, which on a quiet event stream may never come).
"""

from __future__ import annotations

import logging

import anyio
import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from qzx_common.web.errors import error_body

log = logging.getLogger(__name__)

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
# Connection-scoped headers (RFC 9110 §7.6.1) are never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# httpx sets these from the upstream URL and the body it sends; the client-address headers are
# this proxy's to set (a browser's own X-Forwarded-For would let it pick the address the services
# throttle and audit).
NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "x-forwarded-for", "forwarded", "x-real-ip"}

router = APIRouter(prefix="/api", include_in_schema=False)


class RelayResponse(StreamingResponse):
    """A streaming response that always watches for the client hanging up and always closes the
    upstream. Starlette stops watching on ASGI 2.4 servers (it then notices only at the next send,
    which a quiet event stream may never make) and skips the background task when a send fails."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        failure: Exception | None = None
        try:
            async with anyio.create_task_group() as tg:

                async def relay() -> None:
                    nonlocal failure
                    try:
                        await self.stream_response(send)
                    except OSError:
                        pass  # the client went away mid-send
                    except Exception as exc:  # e.g. the upstream broke off: re-raised below, ungrouped
                        failure = exc
                    tg.cancel_scope.cancel()

                tg.start_soon(relay)
                await self.listen_for_disconnect(receive)
                tg.cancel_scope.cancel()
        finally:
            if self.background is not None:
                with anyio.CancelScope(shield=True):
                    await self.background()
        if failure is not None:
            raise failure  # the server aborts the connection: a truncated body must not look complete


def _request_headers(request: Request) -> list[tuple[str, str]]:
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in NOT_FORWARDED]
    if request.client is not None:  # the browser's address, as the peer of this connection
        headers.append(("x-forwarded-for", request.client.host))
    return headers


def _response_headers(upstream: httpx.Response) -> list[tuple[bytes, bytes]]:
    # Bytes are relayed raw (still content-encoded), so a declared content-length stays true.
    return [(k.lower(), v) for k, v in upstream.headers.raw if k.lower().decode("latin-1") not in HOP_BY_HOP]


def _upstream_path(request: Request, service: str) -> str:
    """The path after /api/<service>, still percent-encoded as the client sent it (a decoded
    %2F or %3F would change what the upstream sees)."""
    raw: bytes = request.scope.get("raw_path") or request.url.path.encode()
    return raw.decode("latin-1")[len(f"/api/{service}") :] or "/"


def _timeout(request: Request) -> httpx.Timeout:
    settings = request.app.state.settings
    streaming = "text/event-stream" in request.headers.get("accept", "")
    return httpx.Timeout(
        connect=settings.proxy_connect_timeout_s,
        read=None if streaming else settings.proxy_read_timeout_s,
        write=settings.proxy_read_timeout_s,
        pool=settings.proxy_connect_timeout_s,
    )


@router.api_route("/{service}/{path:path}", methods=METHODS)
async def relay(service: str, request: Request) -> Response:
    base = request.app.state.settings.upstreams().get(service)
    if base is None:
        return JSONResponse(
            error_body("unknown_service", f"no service {service!r}; use ingest, alerts or dispatch"),
            status_code=404,
        )
    url = base + _upstream_path(request, service)
    if request.url.query:
        url += f"?{request.url.query}"
    client: httpx.AsyncClient = request.app.state.http
    upstream_request = client.build_request(
        request.method,
        url,
        headers=_request_headers(request),
        content=await request.body(),
        timeout=_timeout(request),
    )
    try:
        upstream = await client.send(upstream_request, stream=True)
    except httpx.TimeoutException as exc:
        return _unavailable(service, base, exc, status=504, code="upstream_timeout")
    except httpx.TransportError as exc:
        return _unavailable(service, base, exc, status=502, code="upstream_unavailable")
    response = RelayResponse(
        upstream.aiter_raw(), status_code=upstream.status_code, background=BackgroundTask(upstream.aclose)
    )
    response.raw_headers = _response_headers(upstream)  # as sent, repeated headers included
    return response


def _unavailable(service: str, base: str, exc: Exception, *, status: int, code: str) -> JSONResponse:
    reason = str(exc) or type(exc).__name__
    log.warning("proxy to %s failed: %s", service, reason)
    return JSONResponse(
        error_body(code, f"the {service} service at {base} did not answer: {reason}"), status_code=status
    )
