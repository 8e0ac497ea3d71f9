"""The uvicorn configuration every qzx process runs: its listening socket queues as many
connections as the kernel allows, so that a fleet reconnecting at once is not reset."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
import uvicorn

from qzx_common.web.serve import LISTEN_BACKLOG, server_config
from qzx_dev.embedded import free_port


async def app(scope: dict[str, object], receive: object, send: object) -> None:  # pragma: no cover
    raise AssertionError("not called")


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2) to read the socket's backlog")
async def test_the_listening_socket_takes_the_kernels_largest_backlog() -> None:
    somaxconn = int(await asyncio.to_thread(Path("/proc/sys/net/core/somaxconn").read_text))
    port = free_port()
    server = uvicorn.Server(server_config(app, host="127.0.0.1", port=port, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for this)
        await asyncio.sleep(0.02)
    try:
        listing = ["ss", "-ltnH", f"sport = :{port}"]
        out = await asyncio.to_thread(subprocess.run, listing, capture_output=True, text=True, check=True)
    finally:
        server.should_exit = True
        await task
    send_q = int(out.stdout.split()[2])  # a listening socket's Send-Q is its backlog
    assert send_q == min(LISTEN_BACKLOG, somaxconn)  # uvicorn alone listens with 2,048
