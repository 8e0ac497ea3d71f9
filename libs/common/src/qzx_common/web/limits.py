"""What every request passes before a route sees it (``install_request_guards``):

- the body size limit: ``413 payload_too_large`` before the body is read into memory. A declared
  ``Content-Length`` over the limit is refused at once; a chunked body is counted as it arrives and
  refused as soon as it crosses the limit (the handler never sees the rest);
- no NUL (U+0000) in the path or the query: ``422 invalid_text``. PostgreSQL cannot store or compare
  text holding it, and no id or filter of this API contains it;
- the client address: ``X-Forwarded-For`` is believed only from the proxies listed in
  ``QZX_FORWARDED_ALLOW_IPS`` (uvicorn's ``--forwarded-allow-ips`` semantics: addresses or networks,
  comma-separated, ``*`` for any); otherwise the peer address is the client (throttle and audit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qzx_common.web.errors import error_body

if TYPE_CHECKING:
    from fastapi import FastAPI

    from qzx_common.settings import CommonSettings


def install_request_guards(app: FastAPI, settings: CommonSettings) -> None:
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RejectNul)
    if settings.forwarded_allow_ips.strip():
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        started = refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes and not started:
                    # Answer now; the app sees a disconnect and whatever it sends is dropped.
                    await self._refuse(send)
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not refused:
                raise

    async def _refuse(self, send: Send) -> None:
        await _answer(send, 413, "payload_too_large", f"the request body exceeds {self.max_bytes} bytes")


class RejectNul:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _has_nul(scope):
            detail = "the path or query contains U+0000, which no id or filter can hold"
            await _answer(send, 422, "invalid_text", detail)
            return
        await self.app(scope, receive, send)


def _has_nul(scope: Scope) -> bool:
    query: bytes = scope.get("query_string") or b""
    return "\x00" in scope.get("path", "") or b"\x00" in query or b"%00" in query


async def _answer(send: Send, status: int, code: str, detail: str) -> None:
    body = orjson.dumps(error_body(code, detail))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
