"""``python -m qzx_dev.demo --dispatch-url ... --alerts-url ...``: seed the demo world into running
services, then top the rosters up every hour so a long-running demo stays on duty. `make run`
starts it (and starts it again should it stop) when ``QZX_DEMO_DATA`` is 1."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from datetime import UTC, datetime

from qzx_common.settings import CommonSettings
from qzx_dev.demo.seed import seed_demo, seed_rosters, seeder_client

log = logging.getLogger("qzx_dev.demo")
TOP_UP_S = 3600


async def run(dispatch_url: str, alerts_url: str) -> None:
    secret = CommonSettings().jwt_secret
    units = await seed_demo(secret, dispatch_url=dispatch_url, alerts_url=alerts_url, now=datetime.now(UTC))
    log.info("demo world seeded: %d units on duty around the clock", units)
    while True:
        await asyncio.sleep(TOP_UP_S)
        async with seeder_client(secret, url=dispatch_url) as dispatch:
            await seed_rosters(dispatch, now=datetime.now(UTC))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qzx_dev.demo")
    parser.add_argument("--dispatch-url", required=True)
    parser.add_argument("--alerts-url", required=True)
    args = parser.parse_args(argv)
    if os.environ.get("QZX_DEMO_DATA", "1") == "0":
        return 0  # a deployment without the demo (docker compose starts this either way)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s demo %(levelname)s %(message)s")
    asyncio.run(run(args.dispatch_url, args.alerts_url))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
