"""A stopping dispatch process (the real one: ``python -m qzx_dispatch`` under uvicorn) answers its
held long-polls at once, as on a timeout, and stops quickly and quietly; the cursor it answered
still brings the phone every later task."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from qzx_common.web.serve import GRACEFUL_SHUTDOWN_S
from qzx_dev.embedded import free_port
from qzx_dev.testing import Stack
from qzx_dispatch.settings import DispatchSettings

from .conftest import OffsetClock, Org, assign, make_alert, token

pytestmark = [pytest.mark.db]
Api = Callable[..., httpx.AsyncClient]


class Process:
    def __init__(self, proc: asyncio.subprocess.Process, base_url: str, log: Path) -> None:
        self.proc, self.base_url, self.log = proc, base_url, log

    def records(self) -> list[dict[str, Any]]:
        """The process's log: JSON lines, anything else (a bare traceback) kept as ``raw``."""
        out = []
        for line in self.log.read_text().splitlines():
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                out.append({"level": "RAW", "msg": line})
        return out


@pytest.fixture
async def process(
    stack: Stack, dispatch_settings: DispatchSettings, tmp_path: Path
) -> AsyncIterator[Process]:
    """A dispatch process on the test database, with topics and a consumer group of its own."""
    port = free_port()
    env = os.environ | {
        "QZX_DATABASE_URL": stack.service_url(),
        "QZX_MIGRATE_DATABASE_URL": stack.database_url,
        "QZX_KAFKA_BOOTSTRAP": stack.bootstrap,
        "QZX_TOPIC_PREFIX": f"{stack.topic_prefix}shutdown.",
        "QZX_JWT_SECRET": dispatch_settings.jwt_secret,
        "QZX_DISPATCH_PORT": str(port),
        "QZX_HOST": "127.0.0.1",
        "QZX_LOG_JSON": "1",
    }
    log = tmp_path / "dispatch.log"
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "qzx_dispatch", env=env, stdout=sink, stderr=asyncio.subprocess.STDOUT
        )
    process = Process(proc, f"http://127.0.0.1:{port}", log)
    try:
        await _ready(process)
        yield process
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _ready(process: Process, timeout: float = 60.0) -> None:
    """Serving, and its consumer in its group (a process in its steady state)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=process.base_url) as client:
        while time.monotonic() < deadline:
            assert process.proc.returncode is None, process.log.read_text()
            with contextlib.suppress(httpx.TransportError):
                ready = (await client.get("/readyz")).status_code == 200
                if ready and any(r["msg"] == "partitions assigned" for r in process.records()):
                    return
            await asyncio.sleep(0.2)
    raise AssertionError(f"dispatch not ready within {timeout}s:\n{process.log.read_text()}")


async def test_a_held_long_poll_answers_at_once_when_the_process_is_told_to_stop(
    fresh: Any,
    api: Api,
    org: Org,
    clock: OffsetClock,
    dispatch_settings: DispatchSettings,
    process: Process,
) -> None:
    unit = await org.unit()
    bearer = token(dispatch_settings, role="patrol_officer", jur="3701", unit_id=unit, sub=org.member(unit))
    headers = {"Authorization": f"Bearer {bearer}"}
    async with httpx.AsyncClient(base_url=process.base_url, headers=headers, timeout=40) as phone:
        first = (await phone.get("/v1/patrol/tasks", params={"cursor": 0, "wait": 0})).json()
        assert first == {"tasks": [], "cursor": 0}
        held = asyncio.create_task(phone.get("/v1/patrol/tasks", params={"cursor": 0, "wait": 30}))
        await asyncio.sleep(1.0)
        assert not held.done()

        stop_sent = time.monotonic()
        process.proc.send_signal(signal.SIGTERM)
        answer = await held
        answered_after = time.monotonic() - stop_sent
    assert answer.status_code == 200, process.log.read_text()
    assert answer.json() == {"tasks": [], "cursor": 0}
    assert answered_after < 1.0

    rc = await asyncio.wait_for(process.proc.wait(), 15)
    stopped_after = time.monotonic() - stop_sent
    assert rc in (0, -signal.SIGTERM), process.log.read_text()
    # Without the drain: the poll held until uvicorn's graceful timeout cancelled it (a 500, and
    # ERROR tracebacks in the log).
    assert stopped_after < GRACEFUL_SHUTDOWN_S / 2, process.log.read_text()
    loud = [r for r in process.records() if r.get("level") not in ("DEBUG", "INFO")]
    assert loud == []

    # Nothing is lost: the answered cursor brings the phone the task assigned after the stop.
    alert = make_alert()
    assert await assign(fresh, alert, clock=clock) == "assigned"
    phone = api(role="patrol_officer", jur="3701", unit_id=unit, sub=org.member(unit))
    later = (
        await phone.get("/v1/patrol/tasks", params={"cursor": answer.json()["cursor"], "wait": 5})
    ).json()
    assert [t["alert_id"] for t in later["tasks"]] == [alert.id] and later["cursor"] == 1
