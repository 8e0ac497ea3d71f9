"""`qzx dev`: the whole system on one machine.

Starts (when QZX_DATABASE_URL / QZX_KAFKA_BOOTSTRAP are unset) the embedded PostgreSQL and the
embedded Kafka-compatible broker, creates the topics, then the three services (each migrates its
own schema at start-up), the console and the camera simulator; prints where to look; Ctrl-C stops
everything in reverse order.

Nothing it starts outlives it: every child gets a parent-death signal, so even a launcher killed
with SIGKILL takes them along, and what an earlier run still left (pid files under
``<state>/run``, PostgreSQL's ``postmaster.pid``) is stopped before this one starts. A child that
dies is started again with backoff, as a supervisor would; a stop is bounded (SIGTERM, then SIGKILL).
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

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from qzx_dev.embedded import (
    EmbeddedBroker,
    EmbeddedPostgres,
    PortInUse,
    as_role,
    create_database,
    create_service_role,
    require_port,
    start_broker,
    start_postgres,
    stop_stale_broker,
    stop_stale_postgres,
)
from qzx_dev.procs import die_with_parent, process_from_pidfile, stop_pid, wait_all, wait_ready, write_pidfile

RESTART_FIRST_S = 1.0  # the first restart waits this long, each further one twice as long ...
RESTART_MAX_S = 30.0  # ... up to this
RESTART_STABLE_S = 60.0  # a child up this long has recovered: its next failure starts the backoff anew


class LaunchSettings(BaseSettings):
    """Where `qzx dev` puts things; the services and the console read the same QZX_* ports."""

    model_config = SettingsConfigDict(env_prefix="QZX_", extra="ignore")

    ingest_port: int = Field(default=8001, description="Where `make run` starts ingest.")
    alerts_port: int = Field(default=8002, description="Where `make run` starts alerts.")
    dispatch_port: int = Field(default=8003, description="Where `make run` starts dispatch.")
    console_port: int = Field(default=8000, description="Where `make run` starts the console.")
    dev_idp_port: int = Field(
        default=8009, description="Where `make run` starts the development identity provider."
    )
    dev_evidence_port: int = Field(
        default=8010,
        description="Where `make run` starts the development evidence server (the simulated events' "
        "pictures, `qzx_dev.evidence`).",
    )
    embedded_pg_port: int = Field(
        default=5433, description="Where `make run` starts the embedded PostgreSQL."
    )
    embedded_broker_port: int = Field(
        default=9092, description="Where `make run` starts the embedded broker."
    )
    dev_stop_timeout_s: float = Field(
        default=10.0,
        description="How long the children get to stop after SIGTERM before SIGKILL; PostgreSQL gets "
        "as long for its fast shutdown, then 5 s for an immediate one.",
    )
    simulate_passage_rate: float = Field(
        default=50.0,
        description="Checkpoint passages the `make run` simulator sends a second: the day's mean, "
        "shaped by the hour (`simulator.passages.HOURLY`).",
    )
    simulate_accident_rate: float = Field(
        default=2.0,
        ge=0,
        description="Accident reports the `make run` simulator sends a minute (to accidents.reported.v1): "
        "the week's mean, shaped by the hour and day (`simulator.accidents`).",
    )

    def services(self) -> tuple[tuple[str, int], ...]:
        return (("ingest", self.ingest_port), ("alerts", self.alerts_port), ("dispatch", self.dispatch_port))


class AlreadyRunning(RuntimeError):
    pass


class StopRequested(BaseException):
    """SIGINT, SIGTERM or SIGHUP: whatever the launcher is doing, it stops everything."""


@dataclass
class Child:
    name: str
    args: list[str]
    proc: subprocess.Popen[bytes]
    started: float
    failures: int = 0
    restart_at: float | None = None


@dataclass
class Launch:
    state: Path
    env: dict[str, str]
    stop_timeout_s: float = 10.0
    postgres: EmbeddedPostgres | None = None
    broker: EmbeddedBroker | None = None
    children: list[Child] = field(default_factory=list)
    claimed: bool = False  # this launcher wrote <state>/run/launcher.pid

    @property
    def run_dir(self) -> Path:
        return self.state / "run"

    def log_path(self, name: str) -> Path:
        return self.state / "logs" / f"{name}.log"

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        child = Child(name, args, self._popen(name, args), time.monotonic())
        self.children.append(child)
        return child.proc

    def _popen(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log_path = self.log_path(name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                args,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches the launcher only; it stops them in order
                # The launcher only dies without stopping them when it is killed; the services
                # are built to survive a kill (at-least-once in, idempotent writes).
                preexec_fn=die_with_parent(signal.SIGKILL),
            )
        write_pidfile(self.run_dir / f"{name}.pid", proc.pid)
        return proc

    def look_after(self, child: Child, now: float) -> None:
        """Start a child that has exited again, after a backoff that doubles with each failure."""
        code = child.proc.poll()
        if code is None:
            if now - child.started > RESTART_STABLE_S:
                child.failures = 0
            return
        if child.restart_at is None:
            delay = min(RESTART_MAX_S, RESTART_FIRST_S * 2**child.failures)
            child.failures += 1
            child.restart_at = now + delay
            _say(
                f"{child.name} exited with code {code}; starting it again in {delay:g}s "
                f"(log: {self.log_path(child.name)})"
            )
        elif now >= child.restart_at:
            child.proc = self._popen(child.name, child.args)
            child.started, child.restart_at = now, None
            _say(f"{child.name} started again (restart {child.failures})")

    def dead_server(self) -> str | None:
        if self.postgres and self.postgres.proc.poll() is not None:
            return "embedded PostgreSQL"
        if self.broker and self.broker.proc.poll() is not None:
            return "embedded broker"
        return None

    def stop(self) -> None:
        """Services first (they commit what they have applied), then the broker and PostgreSQL;
        each step is bounded by ``stop_timeout_s``."""
        running = [c for c in reversed(self.children) if c.proc.poll() is None]
        for child in running:
            child.proc.send_signal(signal.SIGTERM)
        wait_all([c.proc for c in running], self.stop_timeout_s)
        for child in running:
            if child.proc.poll() is None:
                _say(f"{child.name} did not stop within {self.stop_timeout_s:g}s; killing it")
                child.proc.kill()
                child.proc.wait()
        if self.broker:
            self.broker.stop(timeout=min(3.0, self.stop_timeout_s))
        if self.postgres:
            self.postgres.stop(timeout=self.stop_timeout_s)
        names = [c.name for c in self.children] + ["broker"] * bool(self.broker) + ["launcher"] * self.claimed
        for name in names:
            (self.run_dir / f"{name}.pid").unlink(missing_ok=True)


def _say(msg: str) -> None:
    print(f"qzx | {msg}", flush=True)


def _claim(launch: Launch) -> None:
    """One launcher per state folder: refuse when another one still runs on it."""
    pid_file = launch.run_dir / "launcher.pid"
    other = process_from_pidfile(pid_file)
    if other is not None and other.pid != os.getpid():
        raise AlreadyRunning(f"another `qzx dev` (pid {other.pid}) runs on {launch.state}; stop it first")
    write_pidfile(pid_file, os.getpid())
    launch.claimed = True


def _stop_leftovers(launch: Launch, settings: LaunchSettings) -> None:
    """Stop what a launcher that died without its children noticing left running on this state."""
    for pid_file in sorted(launch.run_dir.glob("*.pid")):
        if pid_file.stem in ("launcher", "broker"):
            continue
        if (proc := process_from_pidfile(pid_file)) is not None:
            _say(f"stopping {pid_file.stem} (pid {proc.pid}), left running by an earlier run")
            stop_pid(proc, [(signal.SIGTERM, 5.0)])
        pid_file.unlink(missing_ok=True)
    if not launch.env.get("QZX_KAFKA_BOOTSTRAP"):
        broker_pid = stop_stale_broker(launch.run_dir / "broker.pid", settings.embedded_broker_port)
        if broker_pid is not None:
            _say(f"stopped the embedded broker (pid {broker_pid}), left running by an earlier run")
    if not launch.env.get("QZX_DATABASE_URL"):
        pg_pid = stop_stale_postgres(launch.state / "pg", timeout=settings.dev_stop_timeout_s)
        if pg_pid is not None:
            _say(f"stopped embedded PostgreSQL (pid {pg_pid}), left running by an earlier run")


def _stop_on_signal(signum: int, frame: object) -> None:
    raise StopRequested


def run(*, state: Path, simulate: bool, demo: bool, rate: float) -> int:
    env = dict(os.environ)
    settings = LaunchSettings()
    services = settings.services()
    for name, port in services:
        env.setdefault(f"QZX_{name.upper()}_URL", f"http://127.0.0.1:{port}")  # the console's upstreams
    env.setdefault("QZX_DEV_MODE", "1")  # the development secret is fine on this machine
    env.setdefault("QZX_FORWARDED_ALLOW_IPS", "127.0.0.1")  # the console's proxy names the browser
    # People sign in to the development identity provider; the services verify its RS256 tokens.
    idp = f"http://127.0.0.1:{settings.dev_idp_port}"
    env.setdefault("QZX_JWT_JWKS_URL", f"{idp}/jwks")
    env.setdefault("QZX_CONSOLE_IDP_TOKEN_URL", f"{idp}/token")
    env.setdefault("QZX_DEV_IDP_KEY_FILE", str(state / "idp" / "signing-key.pem"))
    launch = Launch(state=state, env=env, stop_timeout_s=settings.dev_stop_timeout_s)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop_on_signal)
    try:
        _claim(launch)
        _stop_leftovers(launch, settings)
        for name, port in services:
            require_port(port, f"{name} service", "Is another `make run` still running?")
        require_port(settings.console_port, "console", "Is another `make run` still running?")
        require_port(settings.dev_idp_port, "identity provider", "Is another `make run` still running?")
        if simulate:
            require_port(
                settings.dev_evidence_port, "evidence server", "Is another `make run` still running?"
            )
        _start_servers(launch, settings)
        _start_children(launch, settings, simulate=simulate, demo=demo, rate=rate)
        return _supervise(launch)
    except (PortInUse, AlreadyRunning) as exc:
        _say(f"error: {exc}")
        return 2
    except (RuntimeError, TimeoutError) as exc:
        _say(f"error: {exc}")
        return 1
    except (StopRequested, KeyboardInterrupt):
        return 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the bounded stop short
        _say("stopping…")
        launch.stop()
        _say("stopped.")


def _start_servers(launch: Launch, settings: LaunchSettings) -> None:
    env, state = launch.env, launch.state
    if not env.get("QZX_DATABASE_URL"):
        port = settings.embedded_pg_port
        _say(f"starting embedded PostgreSQL on 127.0.0.1:{port} (data in {state / 'pg'})")
        launch.postgres = start_postgres(
            data_dir=state / "pg", port=port, log_path=launch.log_path("postgres")
        )
        owner_url = create_database(launch.postgres.url(), "qzx")
        # Migrations run as the owner; the services as a role that cannot alter the audit log.
        create_service_role(launch.postgres.url())
        env["QZX_MIGRATE_DATABASE_URL"] = owner_url
        env["QZX_DATABASE_URL"] = as_role(owner_url)
    else:
        _say("using PostgreSQL from QZX_DATABASE_URL")
    if not env.get("QZX_KAFKA_BOOTSTRAP"):
        port = settings.embedded_broker_port
        _say(f"starting embedded Kafka-compatible broker (Tansu) on 127.0.0.1:{port}")
        launch.broker = start_broker(
            port=port, log_path=launch.log_path("broker"), pid_file=launch.run_dir / "broker.pid"
        )
        env["QZX_KAFKA_BOOTSTRAP"] = launch.broker.bootstrap
    else:
        _say(f"using Kafka at {env['QZX_KAFKA_BOOTSTRAP']}")

    from qzx_common.kafka.admin import ensure_topics

    asyncio.run(ensure_topics(env["QZX_KAFKA_BOOTSTRAP"], prefix=env.get("QZX_TOPIC_PREFIX", "")))


def evidence_url(settings: LaunchSettings) -> str:
    """The base of the simulated events' evidence URIs: the development evidence server."""
    return f"http://127.0.0.1:{settings.dev_evidence_port}/evidence"


def simulator_args(settings: LaunchSettings, rate: float) -> list[str]:
    return [
        sys.executable,
        "-m",
        "qzx_dev.simulator",
        "--rate",
        str(rate),
        "--passage-rate",
        str(settings.simulate_passage_rate),
        "--accident-rate",
        str(settings.simulate_accident_rate),
        "--evidence-url",
        evidence_url(settings),
    ]


def _start_children(
    launch: Launch, settings: LaunchSettings, *, simulate: bool, demo: bool, rate: float
) -> None:
    from qzx_dev.idp.accounts import DEV_PASSWORD

    env, services = launch.env, settings.services()
    _say(f"starting the development identity provider on http://127.0.0.1:{settings.dev_idp_port}")
    idp = launch.spawn("idp", [sys.executable, "-m", "qzx_dev.idp"])
    wait_ready("idp", settings.dev_idp_port, idp, launch.log_path("idp"))
    for name, port in services:
        _say(f"starting {name} on http://127.0.0.1:{port}")
        launch.spawn(name, [sys.executable, "-m", f"qzx_{name}"])
    for (name, port), child in zip(services, launch.children[1:], strict=True):
        wait_ready(name, port, child.proc, launch.log_path(name))
        _say(f"{name} ready")

    if demo:
        _say("seeding the demo world through the APIs (units on duty in every city, hazards, hotlists)")
        launch.spawn(
            "demo",
            [
                sys.executable,
                "-m",
                "qzx_dev.demo",
                "--dispatch-url",
                f"http://127.0.0.1:{settings.dispatch_port}",
                "--alerts-url",
                f"http://127.0.0.1:{settings.alerts_port}",
            ],
        )
    token = _console_token(env)
    env["QZX_CONSOLE_TOKEN"] = token
    console = launch.spawn("console", [sys.executable, "-m", "qzx_console"])
    wait_ready("console", settings.console_port, console, launch.log_path("console"))
    if simulate:
        _say(f"starting the development evidence server on {evidence_url(settings)}")
        evidence = launch.spawn(
            "evidence",
            [sys.executable, "-m", "qzx_dev.evidence", "--port", str(settings.dev_evidence_port)],
        )
        wait_ready("evidence", settings.dev_evidence_port, evidence, launch.log_path("evidence"))
        _say(
            f"starting the camera simulator at {rate:g} events/s, {settings.simulate_passage_rate:g} "
            f"passages/s and {settings.simulate_accident_rate:g} accidents/min (means)"
        )
        launch.spawn("simulator", simulator_args(settings, rate))
        _say("starting the patrol-app simulator (units on duty sign, drive there, give feedback)")
        launch.spawn(
            "patrol-sim",
            [
                sys.executable,
                "-m",
                "qzx_dev.patrol_sim",
                "--dispatch-url",
                f"http://127.0.0.1:{settings.dispatch_port}",
                "--speedup",
                "5",
            ],
        )

    _say("")
    _say(f"console   http://127.0.0.1:{settings.console_port}/   sign in as dispatcher-3701, commander-3702,")
    _say("          commander-37, auditor-37 or an officer (O370100-001 …); password QZX_DEV_PASSWORD")
    _say(
        f"          ({env.get('QZX_DEV_PASSWORD') or DEV_PASSWORD}); every account: "
        f"http://127.0.0.1:{settings.dev_idp_port}/accounts"
    )
    for name, port in services:
        _say(f"{name:<9} http://127.0.0.1:{port}/docs   (metrics /metrics, health /healthz /readyz)")
    _say(f"logs      {launch.state / 'logs'}/")
    _say(f"token     {token}")
    _say("          (for scripts: province commander, 12 h; mint others with `uv run qzx token ...`)")
    _say("Ctrl-C stops everything.")


def _console_token(env: dict[str, str]) -> str:
    from qzx_common.settings import CommonSettings
    from qzx_common.web.auth import mint_token

    secret = env.get("QZX_JWT_SECRET") or CommonSettings().jwt_secret
    return mint_token(secret=secret, sub="console-dev", role="province_commander", jur="37", ttl_s=12 * 3600)


def _supervise(launch: Launch) -> int:
    """Until a signal: start again any child that exits. The embedded servers are not restarted
    (the broker keeps no data, so every consumer would have to start over): their end ends the run."""
    try:
        while True:
            if (server := launch.dead_server()) is not None:
                _say(f"{server} exited; stopping everything (see {launch.state / 'logs'}/)")
                return 1
            now = time.monotonic()
            for child in launch.children:
                launch.look_after(child, now)
            time.sleep(0.5)
    except StopRequested:
        return 0
