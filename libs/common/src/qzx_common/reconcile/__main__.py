"""`python -m qzx_common.reconcile [--json] [--timeout S]`: the report; exit 1 on any discrepancy."""

from __future__ import annotations

import argparse
import asyncio
import sys

import orjson

from qzx_common.reconcile import reconcile
from qzx_common.settings import CommonSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="qzx reconcile",
        description="Check that every record reached its end (QZX_DATABASE_URL, QZX_KAFKA_BOOTSTRAP, "
        "QZX_TOPIC_PREFIX); exit 1 on any discrepancy, 2 when it cannot read.",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed for reading a topic")
    args = parser.parse_args(argv)
    try:
        report = asyncio.run(reconcile(CommonSettings(), timeout_s=args.timeout))
    except Exception as exc:
        print(f"reconcile: cannot read the deployment: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(
        orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode() if args.json else report.render()
    )
    return 0 if report.clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
