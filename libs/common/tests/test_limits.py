from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Request

from qzx_common.web.errors import install_error_handlers
from qzx_common.web.limits import BodySizeLimit


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=1000)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    return app


async def test_declared_and_streamed_bodies_over_the_limit_get_413() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://t") as c:
        assert (await c.post("/echo", content=b"x" * 1000)).json() == {"size": 1000}
        r = await c.post("/echo", content=b"x" * 1001)
        assert (r.status_code, r.json()["error"]) == (413, "payload_too_large")

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
            for _ in range(5):
                yield b"y" * 300

        r = await c.post("/echo", content=chunks())
        assert (r.status_code, r.json()["error"]) == (413, "payload_too_large")
