"""`python -m qzx_common.replay [--service S] [--topic T] [--since/--until ISO] [--reason RE] [--id N]
[--force] [--dry-run]`: replay dead letters onto their source topics; prints the counts."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime

from qzx_common.replay import SCHEMAS, Selection, replay
from qzx_common.settings import CommonSettings


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text}: give a UTC offset, e.g. {text}+08:00")
    return moment


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qzx dlq replay",
        description="Send dead letters back onto the topics they came from, after a fix "
        "(QZX_DATABASE_URL, QZX_KAFKA_BOOTSTRAP, QZX_TOPIC_PREFIX). Every given criterion must hold; "
        "a letter replayed before is skipped unless --force. Exit 1 when a send failed.",
    )
    p.add_argument("--service", action="append", choices=SCHEMAS, help="a service's letters (repeatable)")
    p.add_argument("--topic", action="append", default=[], help="source topic, unprefixed (repeatable)")
    p.add_argument("--since", type=_moment, help="received at or after (ISO 8601 with offset)")
    p.add_argument("--until", type=_moment, help="received before (ISO 8601 with offset)")
    p.add_argument("--reason", help="regular expression on the reason (case-insensitive)")
    p.add_argument("--id", type=int, action="append", default=[], help="a letter's id (needs one --service)")
    p.add_argument("--force", action="store_true", help="replay letters replayed before too")
    p.add_argument("--dry-run", action="store_true", help="count what would be replayed, send nothing")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        selection = Selection(
            schemas=tuple(args.service or SCHEMAS),
            sources=tuple(args.topic),
            since=args.since,
            until=args.until,
            reason=args.reason,
            ids=tuple(args.id),
            force=args.force,
        )
    except ValueError as exc:
        print(f"dlq replay: {exc}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(replay(CommonSettings(), selection, dry_run=args.dry_run))
    except Exception as exc:
        print(f"dlq replay: cannot replay: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(report.render())
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
