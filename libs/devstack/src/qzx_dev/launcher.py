"""`qzx dev`: the whole system on one machine.

Starts (when QZX_DATABASE_URL / QZX_KAFKA_BOOTSTRAP are unset) the embedded PostgreSQL and the
embedded Kafka-compatible broker, creates the topics, then the three services (each migrates its
own schema at start-up), the console and the camera simulator; prints where to look; Ctrl-C stops
everything in reverse order.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from qzx_dev.embedded import (
    EmbeddedBroker,
    EmbeddedPostgres,
    PortInUse,
    create_database,
    require_port,
    start_broker,
    start_postgres,
)

SERVICES = (("ingest", 8001), ("alerts", 8002), ("dispatch", 8003))
CONSOLE_PORT = 8000
EMBEDDED_BROKER_PORT = 9092
EMBEDDED_PG_PORT = int(os.environ.get("QZX_EMBEDDED_PG_PORT", "5433"))


@dataclass
class Launch:
    state: Path
    env: dict[str, str]
    postgres: EmbeddedPostgres | None = None
    broker: EmbeddedBroker | None = None
    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log_path = self.state / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                args,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.children.append((name, proc))
        return proc

    def stop(self) -> None:
        for _name, proc in reversed(self.children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, proc in reversed(self.children):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"  {name} did not stop in time; killing it", flush=True)
                proc.kill()
        if self.broker:
            self.broker.stop()
        if self.postgres:
            self.postgres.stop()


def _say(msg: str) -> None:
    print(f"qzx | {msg}", flush=True)


def _wait_ready(name: str, port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(
                f"{name} exited with code {proc.returncode} while starting; last log lines:\n{tail}"
            )
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{name} not ready on port {port} after {timeout:.0f}s (log: {log})")


def run(*, state: Path, simulate: bool, demo: bool, rate: float) -> int:
    env = dict(os.environ)
    env.setdefault("QZX_DEV_MODE", "1")  # the development secret is fine on this machine
    env.setdefault("QZX_FORWARDED_ALLOW_IPS", "127.0.0.1")  # the console's proxy names the browser
    launch = Launch(state=state, env=env)
    try:
        for name, port in SERVICES:
            require_port(port, f"{name} service", "Is another `make run` still running?")
        require_port(CONSOLE_PORT, "console", "Is another `make run` still running?")

        if not env.get("QZX_DATABASE_URL"):
            _say(f"starting embedded PostgreSQL on 127.0.0.1:{EMBEDDED_PG_PORT} (data in {state / 'pg'})")
            launch.postgres = start_postgres(
                data_dir=state / "pg", port=EMBEDDED_PG_PORT, log_path=state / "logs" / "postgres.log"
            )
            env["QZX_DATABASE_URL"] = create_database(launch.postgres.url(), "qzx")
        else:
            _say("using PostgreSQL from QZX_DATABASE_URL")
        if not env.get("QZX_KAFKA_BOOTSTRAP"):
            _say(f"starting embedded Kafka-compatible broker (Tansu) on 127.0.0.1:{EMBEDDED_BROKER_PORT}")
            launch.broker = start_broker(port=EMBEDDED_BROKER_PORT, log_path=state / "logs" / "broker.log")
            env["QZX_KAFKA_BOOTSTRAP"] = launch.broker.bootstrap
        else:
            _say(f"using Kafka at {env['QZX_KAFKA_BOOTSTRAP']}")

        from qzx_common.kafka.admin import ensure_topics

        asyncio.run(ensure_topics(env["QZX_KAFKA_BOOTSTRAP"], prefix=env.get("QZX_TOPIC_PREFIX", "")))
        env.setdefault("QZX_DEMO_DATA", "1" if demo else "0")

        for name, port in SERVICES:
            _say(f"starting {name} on http://127.0.0.1:{port}")
            launch.spawn(name, [sys.executable, "-m", f"qzx_{name}"])
        for (name, port), (_, proc) in zip(SERVICES, launch.children, strict=True):
            _wait_ready(name, port, proc, state / "logs" / f"{name}.log")
            _say(f"{name} ready")

        token = _console_token(env)
        env["QZX_CONSOLE_TOKEN"] = token
        launch.spawn("console", [sys.executable, "-m", "qzx_dev.console"])
        _wait_ready("console", CONSOLE_PORT, launch.children[-1][1], state / "logs" / "console.log")
        if simulate:
            _say(f"starting the camera simulator at {rate:g} events/s")
            launch.spawn("simulator", [sys.executable, "-m", "qzx_dev.simulator", "--rate", str(rate)])
            _say("starting the patrol-app simulator (units on duty sign, drive there, give feedback)")
            dispatch_port = dict(SERVICES)["dispatch"]
            launch.spawn(
                "patrol-sim",
                [
                    sys.executable,
                    "-m",
                    "qzx_dev.patrol_sim",
                    "--dispatch-url",
                    f"http://127.0.0.1:{dispatch_port}",
                    "--speedup",
                    "5",
                ],
            )

        _say("")
        _say(f"console   http://127.0.0.1:{CONSOLE_PORT}/")
        for name, port in SERVICES:
            _say(f"{name:<9} http://127.0.0.1:{port}/docs   (metrics /metrics, health /healthz /readyz)")
        _say(f"logs      {state / 'logs'}/")
        _say(f"token     {token}")
        _say("          (province commander, 12 h; mint others with `uv run qzx token --role ... --jur ...`)")
        _say("Ctrl-C stops everything.")
        return _supervise(launch)
    except PortInUse as exc:
        _say(f"error: {exc}")
        return 2
    except (RuntimeError, TimeoutError) as exc:
        _say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        _say("stopping…")
        launch.stop()
        _say("stopped.")


def _console_token(env: dict[str, str]) -> str:
    from qzx_common.settings import CommonSettings
    from qzx_common.web.auth import mint_token

    secret = env.get("QZX_JWT_SECRET") or CommonSettings().jwt_secret
    return mint_token(secret=secret, sub="console-dev", role="province_commander", jur="37", ttl_s=12 * 3600)


def _supervise(launch: Launch) -> int:
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stop:
        for name, proc in launch.children:
            if proc.poll() is not None:
                _say(
                    f"{name} exited with code {proc.returncode}; see {launch.state / 'logs' / (name + '.log')}"
                )
                return 1
        time.sleep(0.5)
    return 0
