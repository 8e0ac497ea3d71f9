"""The fault proxy on real loopback sockets: pass-through, latency, drop, cut, its bounds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from qzx_dev.faults.proxy import FaultProxy


@pytest.fixture
async def echo() -> AsyncIterator[int]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def roundtrip(port: int, payload: bytes = b"ping", timeout: float = 2.0) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        started = time.monotonic()
        writer.write(payload)
        await writer.drain()
        got = await asyncio.wait_for(reader.readexactly(len(payload)), timeout)
        assert got == payload
        return time.monotonic() - started
    finally:
        writer.close()


async def test_passes_bytes_through_unchanged_both_ways(echo: int) -> None:
    async with FaultProxy(echo) as proxy:
        assert await roundtrip(proxy.port, bytes(range(256)) * 4096) < 1.0  # 1 MiB, in order
        assert proxy.accepted == 1


async def test_latency_is_added_each_way(echo: int) -> None:
    async with FaultProxy(echo) as proxy:
        proxy.slow(0.2)
        assert 0.4 <= await roundtrip(proxy.port) < 1.0
        proxy.pass_through()
        assert await roundtrip(proxy.port) < 0.2


async def test_drop_holds_connections_open_and_passes_nothing(echo: int) -> None:
    async with FaultProxy(echo) as proxy:
        proxy.drop()
        with pytest.raises(TimeoutError):
            await roundtrip(proxy.port, timeout=0.5)
        proxy.pass_through()
        assert await roundtrip(proxy.port) < 0.5


async def test_cut_resets_every_open_connection(echo: int) -> None:
    async with FaultProxy(echo) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"x")
        assert await reader.readexactly(1) == b"x"
        assert proxy.cut() == 1
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(reader.readexactly(1), 2)
        writer.close()
        assert await roundtrip(proxy.port) < 0.5  # new connections pass again


async def test_bounded_connections_and_loopback_only(echo: int) -> None:
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy(echo, target_host="10.0.0.1")
    async with FaultProxy(echo, max_connections=1) as proxy:
        _, first = await asyncio.open_connection("127.0.0.1", proxy.port)
        await asyncio.sleep(0.1)
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError, TimeoutError)):
            await roundtrip(proxy.port, timeout=1)
        assert proxy.refused == 1
        first.close()


async def test_a_target_that_is_down_is_a_reset(echo: int) -> None:
    async with FaultProxy(1) as proxy:  # nothing listens on port 1
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await roundtrip(proxy.port)
