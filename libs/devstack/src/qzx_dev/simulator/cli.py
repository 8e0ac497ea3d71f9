"""``qzx simulate`` / ``python -m qzx_dev.simulator``: a realistic camera stream into Kafka."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Sequence

from qzx_common.topics import ACCIDENTS_REPORTED, CAMERA_PASSAGES, CAMERA_VIOLATIONS
from qzx_dev.simulator.accidents import AccidentGenerator, weekly_factor
from qzx_dev.simulator.clock import parse_clock
from qzx_dev.simulator.generator import EventGenerator
from qzx_dev.simulator.passages import DEMO_HOTLISTED, PassageGenerator, daily_factor
from qzx_dev.simulator.stream import stream


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qzx simulate",
        description="Send a realistic stream of camera violation events for the province to "
        "camera.violations.v1 (Ctrl-C stops).",
    )
    p.add_argument("--rate", type=float, default=200.0, help="events per second (0: as fast as possible)")
    p.add_argument(
        "--passage-rate",
        type=float,
        default=0.0,
        help="also send checkpoint passages to camera.passages.v1 at this mean rate a second, shaped "
        "by the hour of the simulated day (0: none)",
    )
    p.add_argument(
        "--evidence-url",
        help="base URL of the evidence images the events name (`qzx dev`: the development evidence "
        "server's /evidence); unset, s3://evidence/… URIs nothing serves",
    )
    p.add_argument("--passages-only", action="store_true", help="send passages only, no violations")
    p.add_argument(
        "--accident-rate",
        type=float,
        default=0.0,
        help="also send accident reports to accidents.reported.v1 at this mean rate a minute, shaped "
        "by the hour and day (rural commute peaks, market mornings; 0: none)",
    )
    p.add_argument(
        "--hotlisted",
        default=",".join(DEMO_HOTLISTED),
        help="comma-separated plates on the hotlists that pass checkpoints now and then "
        "(default: the demo seed's)",
    )
    p.add_argument("--count", type=int, help="stop after this many messages")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument(
        "--bootstrap",
        default=os.environ.get("QZX_KAFKA_BOOTSTRAP") or "127.0.0.1:9092",
        help="Kafka bootstrap servers (default: $QZX_KAFKA_BOOTSTRAP or 127.0.0.1:9092)",
    )
    p.add_argument(
        "--topic-prefix",
        default=os.environ.get("QZX_TOPIC_PREFIX", ""),
        help="prefix for topic names (default: $QZX_TOPIC_PREFIX)",
    )
    p.add_argument("--seed", type=int, help="random seed for a reproducible stream")
    p.add_argument("--dup-share", type=float, default=0.02, help="share of replayed event ids")
    p.add_argument("--bad-share", type=float, default=0.01, help="share of malformed messages")
    p.add_argument(
        "--clock",
        default="now",
        help="simulated time: 'now', or an ISO start (local +08:00 if no offset) with an optional "
        "'*FACTOR' speed-up, e.g. 2026-11-01T00:00*360 for history; never runs ahead of real time",
    )
    p.add_argument("--speedup", type=float, help="speed-up factor for an ISO --clock start")
    p.add_argument("--progress-every", type=float, default=5.0, help="seconds between progress lines")
    return p


def _validate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if args.rate < 0:
        parser.error("--rate must be >= 0")
    for name in ("dup_share", "bad_share"):
        if not 0 <= getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be in [0, 1)")
    if args.dup_share + args.bad_share >= 1:
        parser.error("--dup-share + --bad-share must stay below 1")
    if args.passage_rate < 0:
        parser.error("--passage-rate must be >= 0")
    if args.accident_rate < 0:
        parser.error("--accident-rate must be >= 0")
    if args.count is not None and args.count < 0:
        parser.error("--count must be >= 0")


async def run(args: argparse.Namespace) -> int:
    clock = parse_clock(args.clock, args.speedup)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    common = {
        "bootstrap": args.bootstrap,
        "topic_prefix": args.topic_prefix,
        "count": args.count,
        "duration": args.duration,
        "stop": stop,
        "progress": sys.stderr,
        "progress_every": args.progress_every,
    }
    streams = []
    if not args.passages_only:
        generator = EventGenerator(
            seed=args.seed,
            clock=clock,
            dup_share=args.dup_share,
            bad_share=args.bad_share,
            evidence_url=args.evidence_url,
        )
        print(
            f"simulate: {args.bootstrap} topic {args.topic_prefix}{CAMERA_VIOLATIONS}, "
            f"rate {args.rate or 'unlimited'}/s, dups {args.dup_share:.1%}, bad {args.bad_share:.1%}",
            file=sys.stderr,
        )
        streams.append(stream(generator, rate=args.rate or None, **common))
    if args.passage_rate > 0 or args.passages_only:
        hotlisted = [p for p in args.hotlisted.split(",") if p]
        passages = PassageGenerator(seed=args.seed, clock=clock, hotlisted=hotlisted)
        print(
            f"simulate: passages to {args.topic_prefix}{CAMERA_PASSAGES}, mean rate "
            f"{args.passage_rate or 'unlimited'}/s by the hour of day, {len(hotlisted)} hotlisted plates",
            file=sys.stderr,
        )
        rate = args.passage_rate or None
        streams.append(
            stream(
                passages,
                rate=rate,
                topic_name=CAMERA_PASSAGES,
                shape=daily_factor if rate else None,
                **common,
            )
        )
    if args.accident_rate > 0:
        accidents = AccidentGenerator(seed=args.seed, clock=clock)
        print(
            f"simulate: accidents to {args.topic_prefix}{ACCIDENTS_REPORTED}, mean {args.accident_rate:g}/min "
            "by the hour and day, a quarter at the demo hazard points",
            file=sys.stderr,
        )
        streams.append(
            stream(
                accidents,
                rate=args.accident_rate / 60,
                topic_name=ACCIDENTS_REPORTED,
                shape=weekly_factor,
                **common,
            )
        )
    await asyncio.gather(*streams)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _validate(args, parser)
    try:
        parse_clock(args.clock, args.speedup)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"simulate: cannot reach Kafka at {args.bootstrap}: {exc}", file=sys.stderr)
        return 1
