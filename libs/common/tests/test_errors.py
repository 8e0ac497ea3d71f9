"""Text PostgreSQL cannot store is the client's error (422 invalid_text), not a 500; a connection
the server dropped is a 503 the client may retry, and the pool recovers by itself."""

from __future__ import annotations

import asyncio
import socket

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from qzx_common.db import create_engine
from qzx_common.settings import to_asyncpg_url
from qzx_common.web.errors import install_error_handlers
from qzx_dev.testing import Stack


def closed_port() -> int:
    """A local port nothing listens on (just released by the kernel)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def app(stack: Stack) -> FastAPI:
    engine = create_engine(to_asyncpg_url(stack.database_url))
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/store")
    async def store(body: dict[str, str]) -> dict[str, str]:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT CAST(:v AS jsonb)"), {"v": f'{{"x": "{body["value"]}"}}'})
            await conn.execute(text("SELECT CAST(:v AS text)"), {"v": body["value"]})
        return {"ok": "yes"}

    @app.get("/item/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT CAST(:v AS bigint)"), {"v": item_id})
        return {"id": item_id}

    @app.get("/backend")
    async def backend() -> dict[str, int]:
        async with engine.begin() as conn:
            return {"pid": (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()}

    @app.get("/lost")
    async def lost() -> None:
        error = DBAPIError(
            "SELECT 1", None, ConnectionResetError("connection reset"), connection_invalidated=True
        )
        raise error  # what SQLAlchemy raises when a connection fails mid-use

    @app.get("/raw/{kind}")
    async def raw(kind: str) -> None:
        """The fast read paths query through the raw asyncpg connection."""
        sql, value = {
            "nul": ("SELECT $1::text", "a\x00b"),
            "overflow": ("SELECT $1::bigint", 2**80),
            "text_to_int": ("SELECT $1::text::int", "x"),
            "broken": ("SELECT * FROM no_such_table WHERE $1::text IS NULL", "x"),
        }[kind]
        async with engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            await driver.fetch(sql, value)

    @app.get("/unreachable")
    async def unreachable() -> None:
        dead = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/qzx")
        try:
            async with dead.connect():
                pass
        finally:
            await dead.dispose()

    @app.post("/broken")
    async def broken() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT * FROM no_such_table"))

    return app


async def test_nul_in_text_is_a_422(app: FastAPI) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        ok = await client.post("/store", json={"value": "plain"})
        assert ok.status_code == 200
        r = await client.post("/store", json={"value": "a\x00b"})
        assert r.status_code == 422
        assert r.json()["error"] == "invalid_text"


async def test_integer_beyond_int64_is_a_422(app: FastAPI) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/item/7")).status_code == 200
        r = await client.get(f"/item/{2**80}")
        assert r.status_code == 422
        assert r.json() == {"error": "invalid_request", "detail": "a value is out of range for its field"}


async def test_other_database_errors_stay_500(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post("/broken")
        assert r.status_code == 500
        assert r.json()["error"] == "internal_error"


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("nul", 422, "invalid_text"),
        ("overflow", 422, "invalid_request"),
        ("text_to_int", 422, "invalid_request"),
        ("broken", 500, "internal_error"),
    ],
)
async def test_raw_driver_errors_are_classified_like_wrapped_ones(
    app: FastAPI, kind: str, status: int, code: str
) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get(f"/raw/{kind}")
        assert (r.status_code, r.json()["error"]) == (status, code)


async def test_a_database_that_refuses_connections_is_a_503(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/unreachable")
        assert (r.status_code, r.json()["error"]) == (503, "database_unavailable")
        assert r.headers["retry-after"] == "1"


async def test_a_connection_the_server_dropped_is_replaced_at_checkout(app: FastAPI, stack: Stack) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        pid = (await client.get("/backend")).json()["pid"]
        admin = await asyncpg.connect(stack.database_url)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)  # a restart, say
        finally:
            await admin.close()
        await asyncio.sleep(0.2)  # the pooled connection reads the server's goodbye
        again = await client.get("/backend")
        assert again.status_code == 200 and again.json()["pid"] != pid


async def test_a_connection_lost_in_use_is_a_503_to_retry(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        lost = await client.get("/lost")
        assert lost.status_code == 503 and lost.headers["retry-after"] == "1"
        assert lost.json()["error"] == "database_unavailable"


async def test_a_pool_with_every_connection_busy_is_a_503_to_retry(stack: Stack) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    busy = create_async_engine(
        to_asyncpg_url(stack.database_url), pool_size=1, max_overflow=0, pool_timeout=0.2
    )
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/query")
    async def query() -> dict[str, int]:
        async with busy.connect() as conn:
            return {"one": (await conn.execute(text("SELECT 1"))).scalar_one()}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with busy.connect(), httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.get("/query")  # the pool's one connection is held here
        assert (r.status_code, r.json()["error"], r.headers["retry-after"]) == (503, "database_busy", "1")
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/query")).json() == {"one": 1}  # free again
    finally:
        await busy.dispose()
