"""`qzx soak` / `python -m qzx_dev.soak`: options and defaults (issue figures: 2,000 events/s,
5,000 long-polls, 50 SSE streams, 10 minutes)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from qzx_dev.soak.run import Config, default_warmup, soak


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="qzx soak", description="soak the embedded stack and reconcile at the end"
    )
    p.add_argument("--rate", type=float, default=2000.0, help="camera events per second (default 2000)")
    p.add_argument("--long-polls", type=int, default=5000, help="patrol long-poll clients (default 5000)")
    p.add_argument("--streams", type=int, default=50, help="console SSE streams (default 50)")
    p.add_argument("--minutes", type=int, default=10, help="duration in minutes (default 10)")
    p.add_argument(
        "--handle-s",
        type=float,
        default=10.0,
        help="seconds an officer works a task between signing for it and the feedback (default 10)",
    )
    p.add_argument(
        "--warmup", type=float, help="minutes left out of the RSS slope (default 2, half a shorter run)"
    )
    p.add_argument("--out", type=Path, default=Path(".state/soak"), help="folder for the PNG plots and logs")
    a = p.parse_args(argv)
    if a.minutes < 1 or a.rate <= 0 or a.long_polls < 1 or a.streams < 0:
        p.error("--minutes, --rate and --long-polls must be positive, --streams not negative")
    warmup = default_warmup(a.minutes) if a.warmup is None else a.warmup
    cfg = Config(a.rate, a.long_polls, a.streams, a.minutes, a.handle_s, warmup, a.out.resolve())
    return asyncio.run(soak(cfg))
