"""`python -m qzx_common.healthcheck`: the image's HEALTHCHECK. One image runs every qzx process,
so this asks each port the container's QZX_*_PORT settings name (all the defaults when none is
set) for /livez, or /healthz where a process has no /livez (the console); exit 0 when one answers
200, 1 otherwise. Standard library only: it runs every few seconds."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

PORTS = {
    "QZX_INGEST_PORT": 8001,
    "QZX_ALERTS_PORT": 8002,
    "QZX_DISPATCH_PORT": 8003,
    "QZX_CONSOLE_PORT": 8000,
}


def ports(env: dict[str, str]) -> list[int]:
    named = [int(env[k]) for k in PORTS if env.get(k)]
    return named or list(PORTS.values())


def healthy(port: int, *, timeout: float = 3.0) -> bool:
    for path in ("/livez", "/healthz"):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
                return bool(response.status == 200)
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                return False
        except OSError:
            return False
    return False


def main() -> int:
    return 0 if any(healthy(p) for p in ports(dict(os.environ))) else 1


if __name__ == "__main__":
    sys.exit(main())
