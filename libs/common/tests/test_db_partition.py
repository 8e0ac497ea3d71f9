"""A partition between a service and PostgreSQL (traffic lost, nothing closed): a command on a
half-open connection gives up after the engine's command timeout, the failure is transient (a
consumer retries its batch), the connection is discarded, and once the network heals the next
command runs on a fresh connection."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from qzx_common.db import create_engine
from qzx_common.settings import to_asyncpg_url
from qzx_common.transient import is_transient
from qzx_dev.faults.proxy import FaultProxy
from qzx_dev.testing import Stack

pytestmark = [pytest.mark.db]

TIMEOUT_S = 4.0
GRACEFUL_CLOSE_S = 2.0  # what SQLAlchemy gives a discarded asyncpg connection to close


async def test_a_command_on_a_partitioned_connection_times_out_and_the_next_runs_on_a_new_one(
    stack: Stack,
) -> None:
    url = make_url(to_asyncpg_url(stack.database_url))
    assert url.port is not None
    async with FaultProxy(url.port) as proxy:
        proxied = url.set(port=proxy.port).render_as_string(hide_password=False)
        engine = create_engine(proxied, pool_size=1, command_timeout_s=TIMEOUT_S)
        try:
            async with engine.connect() as conn:
                assert await conn.scalar(text("SELECT 1")) == 1
            proxy.drop()
            started = time.monotonic()
            with pytest.raises(Exception) as failed:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            waited = time.monotonic() - started
            # Given up in about the command timeout, not hanging on the lost answer.
            assert waited < TIMEOUT_S + GRACEFUL_CLOSE_S + 2, f"gave up after {waited:.1f} s"
            assert is_transient(failed.value), repr(failed.value)
            proxy.pass_through()
            async with asyncio.timeout(10), engine.connect() as conn:
                assert await conn.scalar(text("SELECT 2")) == 2
            assert proxy.accepted >= 2, "the half-open connection was reused"
        finally:
            proxy.pass_through()
            await engine.dispose()


async def test_the_server_ends_a_transaction_its_client_left_idle(stack: Stack) -> None:
    engine = create_engine(to_asyncpg_url(stack.database_url), pool_size=1, idle_transaction_timeout_s=0.5)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))  # in a transaction now
            await asyncio.sleep(1.5)
            with pytest.raises(Exception) as ended:
                await conn.execute(text("SELECT 1"))
            assert is_transient(ended.value), repr(ended.value)
    finally:
        await engine.dispose()
