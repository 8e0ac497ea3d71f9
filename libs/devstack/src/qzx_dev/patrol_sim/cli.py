"""``qzx patrol-sim`` / ``python -m qzx_dev.patrol_sim``: patrol apps for the units on duty."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence

from qzx_dev.patrol_sim.config import DEFAULT_DISPATCH_URL, SimConfig
from qzx_dev.patrol_sim.fleet import run


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qzx patrol-sim",
        description="Simulated patrol apps: every unit on duty long-polls dispatch for its tasks, signs, "
        "drives there reporting its position, reports on scene and gives feedback (Ctrl-C stops).",
    )
    p.add_argument(
        "--dispatch-url",
        default=os.environ.get("QZX_DISPATCH_URL") or DEFAULT_DISPATCH_URL,
        help=f"dispatch's base URL (default: $QZX_DISPATCH_URL or {DEFAULT_DISPATCH_URL})",
    )
    p.add_argument("--units", type=int, help="run at most this many units (default: every unit on duty)")
    p.add_argument("--jur", default="37", help="only units under this admin-code prefix (default 37)")
    p.add_argument(
        "--speedup",
        type=float,
        default=1.0,
        help="run the crews' delays, drives and time on scene this many times faster (sign-by stays real)",
    )
    p.add_argument(
        "--ignore-share",
        type=float,
        default=0.1,
        help="share of tasks left unsigned, so that reassignment and escalation show; when no other unit "
        "can take one and dispatch escalates it in place, the same share ignores that too (default 0.1)",
    )
    p.add_argument("--seed", type=int, help="random seed (choices are drawn per task id, so reruns agree)")
    p.add_argument("--wait", type=int, default=25, help="long-poll hold in seconds (1-30, default 25)")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--progress-every", type=float, default=5.0, help="seconds between progress lines")
    p.add_argument(
        "--secret", help="JWT signing secret (default: $QZX_JWT_SECRET or the development default)"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every step of every task")
    return p


def _config(args: argparse.Namespace, parser: argparse.ArgumentParser) -> SimConfig:
    if args.units is not None and args.units < 1:
        parser.error("--units must be >= 1")
    if args.speedup <= 0:
        parser.error("--speedup must be > 0")
    if not 0 <= args.ignore_share <= 1:
        parser.error("--ignore-share must be in [0, 1]")
    if not 1 <= args.wait <= 30:
        parser.error("--wait must be in 1..30")
    from qzx_common.jurisdiction import LEVELS_TEXT, in_province
    from qzx_common.settings import CommonSettings

    if not in_province(args.jur, CommonSettings().province_code):
        parser.error(f"--jur must be an admin-code prefix within the province ({LEVELS_TEXT})")
    if args.progress_every <= 0 or (args.duration is not None and args.duration <= 0):
        parser.error("--progress-every and --duration must be > 0")
    return SimConfig(
        secret=args.secret or _default_secret(),
        dispatch_url=args.dispatch_url.rstrip("/"),
        units=args.units,
        jur=args.jur,
        speedup=args.speedup,
        ignore_share=args.ignore_share,
        seed=args.seed,
        wait_s=args.wait,
        progress_every_s=args.progress_every,
        duration_s=args.duration,
    )


def _default_secret() -> str:
    from qzx_common.settings import CommonSettings

    return os.environ.get("QZX_JWT_SECRET") or CommonSettings().jwt_secret


def _logging(verbose: bool) -> None:
    logger = logging.getLogger("qzx_dev.patrol_sim")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s patrol-sim: %(message)s", datefmt="%H:%M:%S"))
    logger.handlers = [handler]  # a second main() in one process must not double every line
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


async def _main(config: SimConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await run(config, stop=stop)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    config = _config(args, parser)
    _logging(args.verbose)
    try:
        asyncio.run(_main(config))
    except KeyboardInterrupt:
        return 130
    return 0
