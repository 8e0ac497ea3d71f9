"""The three services as real processes (``python -m qzx_<name>``) on one database and topic
prefix, as a deployment runs them: killed with SIGKILL, restarted, their /readyz sampled."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from qzx_dev.embedded import free_port
from qzx_dev.procs import die_with_parent, stop_child

SERVICES = ("ingest", "alerts", "dispatch")


@dataclass
class ServiceProcess:
    name: str
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    last_readyz: str = "no answer yet"  # the last /readyz answer, for a failure to say why

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} is running"
        self.starts += 1
        env = self.env | {f"QZX_{self.name.upper()}_PORT": str(self.port)}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", f"qzx_{self.name}"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent(signal.SIGKILL),
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no final commit."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            stop_child(self.proc, [(signal.SIGTERM, 10.0)])

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def assert_running(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, (
            f"{self.name} exited with {self.proc and self.proc.returncode}:\n{self.tail()}"
        )

    async def readyz(self, client: httpx.AsyncClient) -> int | None:
        """/readyz's status, or None when nothing answers."""
        try:
            r = await client.get(f"{self.url}/readyz", timeout=5.0)
        except httpx.HTTPError as e:
            self.last_readyz = f"no answer ({type(e).__name__}: {e})"
            return None
        self.last_readyz = f"{r.status_code} {r.text[:2000]}"
        return r.status_code

    async def wait_ready(self, *, timeout: float) -> float:
        """Seconds until /readyz answers 200 (fails after ``timeout``)."""
        started = time.monotonic()
        async with httpx.AsyncClient() as client:
            while time.monotonic() - started < timeout:
                self.assert_running()
                if await self.readyz(client) == 200:
                    return time.monotonic() - started
                await asyncio.sleep(0.1)
        raise AssertionError(
            f"{self.name} not ready within {timeout}s; its last /readyz: {self.last_readyz}\n{self.tail()}"
        )


@dataclass
class ReadySampler:
    """Samples every service's /readyz every ``interval`` s: (monotonic time, status or None)."""

    services: list[ServiceProcess]
    interval: float = 0.2
    samples: dict[str, list[tuple[float, int | None]]] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async with httpx.AsyncClient() as client:
            while True:  # side by side: one slow service does not thin the others' samples
                statuses = await asyncio.gather(*(s.readyz(client) for s in self.services))
                for s, status in zip(self.services, statuses, strict=True):
                    self.samples.setdefault(s.name, []).append((time.monotonic(), status))
                await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="readyz-sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def between(self, name: str, start: float, end: float) -> list[int | None]:
        return [status for at, status in self.samples.get(name, []) if start <= at <= end]
