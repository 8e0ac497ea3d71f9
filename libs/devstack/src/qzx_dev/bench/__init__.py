"""`qzx bench` / `make bench`: every benchmark, one after another, on one embedded stack.

Each benchmark is a module with ``main(argv)`` that prints its own table of measured figures and
ratios against raw baselines taken in the same run (these machines are shared and noisy, so only
side-by-side ratios mean much).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

BENCHES = ("ingest", "passages", "checkpoints", "alerts", "dispatch", "dispatch_intake", "console")


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run a benchmark on the event loop the services run on: uvicorn picks uvloop where it is
    installed (uvicorn[standard]), and the loop's own cost is part of what is measured."""
    try:
        import uvloop
    except ImportError:  # no wheel for this platform: the services run on asyncio's loop too
        return asyncio.run(main)
    return uvloop.run(main)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qzx bench")
    parser.add_argument("only", nargs="*", help=f"benchmarks to run, of {', '.join(BENCHES)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller data sets, for a smoke run")
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
            failures += _run_one(name, quick=args.quick, env=env)
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


def _run_one(name: str, *, quick: bool, env: dict[str, str]) -> int:
    module = f"qzx_dev.bench.{name}"
    if importlib.util.find_spec(module) is None:
        print(f"== {name}: not available", flush=True)
        return 0
    print(f"\n== benchmark: {name}", flush=True)
    started = time.monotonic()
    code = subprocess.call([sys.executable, "-m", module, *(["--quick"] if quick else [])], env=env)
    print(f"== {name}: exit {code} after {time.monotonic() - started:.0f}s", flush=True)
    return int(code != 0)
