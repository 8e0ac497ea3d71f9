"""The periodic loop: work every turn, a failure logged and tried again, a stop ends it at once."""

from __future__ import annotations

import asyncio

import pytest

from qzx_common.periodic import every


async def test_a_failed_turn_is_logged_and_the_next_runs(caplog: pytest.LogCaptureFixture) -> None:
    stopping = asyncio.Event()
    turns: list[int] = []

    async def work() -> None:
        turns.append(len(turns))
        if len(turns) == 1:
            raise RuntimeError("first turn fails")
        if len(turns) == 3:
            stopping.set()

    async with asyncio.timeout(5):
        await every(0.01, work, stopping=stopping, failed="the work failed")
    assert turns == [0, 1, 2]
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == ["the work failed"]


async def test_a_stop_ends_the_wait_at_once() -> None:
    stopping = asyncio.Event()

    async def work() -> None:
        asyncio.get_running_loop().call_later(0.05, stopping.set)

    async with asyncio.timeout(2):  # not the hour between turns
        await every(3600, work, stopping=stopping, failed="never")
