"""`qzx bench` / `make bench`: every benchmark, one after another, on one embedded stack.

Each benchmark is a module with ``main(argv)`` that prints its own table of measured figures and
ratios against raw baselines taken in the same run (these machines are shared and noisy, so only
side-by-side ratios mean much).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

BENCHES = (
    "ingest",
    "passages",
    "checkpoints",
    "checkpoint_watch",
    "passage_queries",
    "alerts",
    "dispatch",
    "dispatch_intake",
    "console",
    "blackspots",
    "reports",
)


def aligned(lines: list[tuple[str, str]]) -> str:
    """A benchmark's table of (figure, value) lines, the values in one column."""
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in lines)


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run a benchmark on the event loop the services run on: uvicorn picks uvloop where it is
    installed (uvicorn[standard]), and the loop's own cost is part of what is measured."""
    try:
        import uvloop
    except ImportError:  # no wheel for this platform: the services run on asyncio's loop too
        return asyncio.run(main)
    return uvloop.run(main)


@contextlib.contextmanager
def servers(label: str, *, fast: bool = False) -> Iterator[tuple[str, str]]:
    """(server URL, bootstrap) for one benchmark module: QZX_DATABASE_URL / QZX_KAFKA_BOOTSTRAP
    (``qzx bench`` exports its stack's), else embedded servers started here and stopped after."""
    from qzx_dev.embedded import free_port, start_broker, start_postgres

    state = Path(tempfile.mkdtemp(prefix=f"qzx-bench-{label}-"))
    started: list[Any] = []
    try:
        server = os.environ.get("QZX_DATABASE_URL")
        if not server:
            pg = start_postgres(data_dir=state / "pg", port=free_port(), log_path=state / "pg.log", fast=fast)
            started.append(pg)
            server = pg.url()
        bootstrap = os.environ.get("QZX_KAFKA_BOOTSTRAP")
        if not bootstrap:
            broker = start_broker(port=free_port(), log_path=state / "broker.log")
            started.append(broker)
            bootstrap = broker.bootstrap
        yield server, bootstrap
    finally:
        for process in reversed(started):
            process.stop()


def run_on_fresh_database(label: str, bench: Callable[[str, str, str], Coroutine[Any, Any, T]]) -> T:
    """``bench(plain URL, asyncpg URL, bootstrap)`` on a database of its own, dropped after."""
    import uuid

    from qzx_common.settings import to_asyncpg_url, to_plain_url
    from qzx_dev.embedded import create_database, drop_database

    with servers(label) as (server, bootstrap):
        name = f"qzx_bench_{label}_{uuid.uuid4().hex[:8]}"
        db = create_database(server, name)
        try:
            return run_async(bench(to_plain_url(db), to_asyncpg_url(db), bootstrap))
        finally:
            drop_database(server, name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qzx bench")
    parser.add_argument("only", nargs="*", help=f"benchmarks to run, of {', '.join(BENCHES)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller data sets, for a smoke run")
    parser.add_argument(
        "--passages",
        type=int,
        help="passages stored for the passage-query benchmark (its default 2,000,000; issue 21 sets 100,000,000)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.only) - set(BENCHES)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    env = os.environ.copy()
    env.setdefault("QZX_DEV_MODE", "1")  # the benchmarks' services run with development secrets
    stack = _embedded_stack(env)
    failures = 0
    try:
        for name in args.only or BENCHES:
            extra = ["--passages", str(args.passages)] if args.passages and name == "passage_queries" else []
            failures += _run_one(name, quick=args.quick, env=env, extra=extra)
    finally:
        for server in stack:
            server.stop()
    return 1 if failures else 0


def _embedded_stack(env: dict[str, str]) -> list[Any]:
    """Start the embedded servers the environment does not point at; export them to ``env``."""
    from qzx_dev.embedded import free_port, start_broker, start_postgres

    state = Path(tempfile.mkdtemp(prefix="qzx-bench-"))
    started: list[Any] = []
    if not env.get("QZX_DATABASE_URL"):
        pg = start_postgres(data_dir=state / "pg", port=free_port(), log_path=state / "pg.log")
        started.append(pg)
        env["QZX_DATABASE_URL"] = pg.url()
    if not env.get("QZX_KAFKA_BOOTSTRAP"):
        broker = start_broker(port=free_port(), log_path=state / "broker.log")
        started.append(broker)
        env["QZX_KAFKA_BOOTSTRAP"] = broker.bootstrap
    return started


def _run_one(name: str, *, quick: bool, env: dict[str, str], extra: list[str]) -> int:
    module = f"qzx_dev.bench.{name}"
    if importlib.util.find_spec(module) is None:
        print(f"== {name}: not available", flush=True)
        return 0
    print(f"\n== benchmark: {name}", flush=True)
    started = time.monotonic()
    code = subprocess.call([sys.executable, "-m", module, *(["--quick"] if quick else []), *extra], env=env)
    print(f"== {name}: exit {code} after {time.monotonic() - started:.0f}s", flush=True)
    return int(code != 0)
