"""The `qzx` command: dev (the whole system), migrate, reconcile, dlq replay, simulate, patrol-sim, token,
settings-doc, bench, soak."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="qzx", description="qzx developer commands")
    sub = parser.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="run the whole system on the embedded default (Ctrl-C stops)")
    dev.add_argument(
        "--state", default=os.environ.get("QZX_STATE_DIR", ".state"), help="folder for local state"
    )
    dev.add_argument(
        "--rate",
        type=float,
        default=float(os.environ.get("QZX_SIMULATE_RATE", "20")),
        help="simulator events per second",
    )
    sub.add_parser(
        "migrate", help="schemas to head and topics created (see `qzx migrate --help`)", add_help=False
    )
    sub.add_parser(
        "reconcile", help="check every record reached its end (see `qzx reconcile --help`)", add_help=False
    )
    sub.add_parser("dlq", help="dead letters: `qzx dlq replay` (see `qzx dlq replay --help`)", add_help=False)
    sub.add_parser("simulate", help="the camera simulator (see `qzx simulate --help`)", add_help=False)
    sub.add_parser("patrol-sim", help="patrol-app simulator (see `qzx patrol-sim --help`)", add_help=False)
    sub.add_parser("token", help="mint a development JWT (see `qzx token --help`)", add_help=False)
    sub.add_parser("settings-doc", help="write docs/settings.md from the settings classes", add_help=False)
    sub.add_parser("bench", help="run the benchmarks (see `qzx bench --help`)", add_help=False)
    sub.add_parser("soak", help="soak the embedded stack (see `qzx soak --help`)", add_help=False)

    if argv and argv[0] in (
        "migrate",
        "reconcile",
        "dlq",
        "simulate",
        "patrol-sim",
        "token",
        "settings-doc",
        "bench",
        "soak",
    ):
        return _delegate(argv[0], argv[1:])
    args = parser.parse_args(argv)
    if args.command == "dev":
        from qzx_dev.launcher import run

        return run(
            state=Path(args.state).resolve(),
            simulate=os.environ.get("QZX_SIMULATE", "1") != "0",
            demo=os.environ.get("QZX_DEMO_DATA", "1") != "0",
            rate=args.rate,
        )
    return 2


def _delegate(command: str, rest: list[str]) -> int:
    if command == "migrate":
        from qzx_dev.migrate import main as migrate

        return migrate(rest)
    if command == "reconcile":  # the product's own module: deployments have it without the dev tools
        from qzx_common.reconcile.__main__ import main as reconcile

        return reconcile(rest)
    if command == "dlq":  # the product's own module, like reconcile
        if rest[:1] != ["replay"]:
            print("usage: qzx dlq replay [--help]", file=sys.stderr)
            return 2
        from qzx_common.replay.__main__ import main as replay

        return replay(rest[1:])
    if command == "simulate":
        from qzx_dev.simulator import main as simulate

        return int(simulate(rest) or 0)
    if command == "patrol-sim":
        from qzx_dev.patrol_sim import main as patrol_sim

        return int(patrol_sim(rest) or 0)
    if command == "token":
        from qzx_dev.tokens import main as token

        return int(token(rest) or 0)
    if command == "settings-doc":
        from qzx_dev.settings_doc import main as settings_doc

        return settings_doc(rest)
    if command == "soak":
        from qzx_dev.soak.cli import main as soak

        return soak(rest)
    from qzx_dev.bench import main as bench

    return int(bench(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
