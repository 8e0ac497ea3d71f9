"""`qzx migrate [SERVICE ...]`: every service's schema (or the named ones) to head, and the topics
created with the QZX_TOPIC_* layout, against QZX_DATABASE_URL and QZX_KAFKA_BOOTSTRAP; then exit.
The same as `python -m qzx_<service> migrate` for each service in turn."""

from __future__ import annotations

import argparse
import importlib

from qzx_common.migrate import Target, run
from qzx_common.settings import CommonSettings

SERVICES = ("ingest", "alerts", "dispatch")


def target(service: str) -> Target:
    main = importlib.import_module(f"qzx_{service}.main")
    db = importlib.import_module(f"qzx_{service}.db")
    return Target(schema=db.SCHEMA, migrations_dir=main.MIGRATIONS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qzx migrate", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "services", nargs="*", metavar="SERVICE", help=f"{', '.join(SERVICES)} (default: all)"
    )
    parser.add_argument(
        "--no-topics", action="store_true", help="leave topics alone (the platform owns them)"
    )
    args = parser.parse_args(argv)
    if unknown := sorted(set(args.services) - set(SERVICES)):
        parser.error(f"unknown service {', '.join(unknown)}; choose from {', '.join(SERVICES)}")
    services = args.services or list(SERVICES)
    return run(CommonSettings(), [target(s) for s in services], service="migrate", topics=not args.no_topics)
