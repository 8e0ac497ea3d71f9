"""``qzx token``: development tokens (HS256, ``QZX_JWT_SECRET``) and revocations.

    qzx token --role dispatcher --jur 3702
    qzx token --role patrol_officer --jur 370202 --unit U-370202-01 --sub officer-7 --ttl 3600
    qzx token --revoke <jti> --until <unix exp> [--reason ...]   (writes to QZX_DATABASE_URL)

Also runnable as ``python -m qzx_dev.tokens``. Prints the token (or the revocation) on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from qzx_common.settings import CommonSettings
from qzx_common.web.auth import PATROL_ROLES, Role, decode_token, mint_token


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qzx token", description="Mint a development JWT or revoke one.")
    p.add_argument("--role", choices=[r.value for r in Role], help="the person's role")
    p.add_argument("--jur", help="admin-code prefix the person may see: 37 province, 3701 Jinan, 370102 ...")
    p.add_argument("--unit", dest="unit_id", help="patrol unit id (required for patrol roles)")
    p.add_argument("--sub", help="person id (default: <role>-dev)")
    p.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds (default 8 h)")
    p.add_argument("--secret", help="signing secret (default: QZX_JWT_SECRET or the development default)")
    p.add_argument("--revoke", metavar="JTI", help="deny this token id on every replica")
    p.add_argument("--until", type=int, help="with --revoke: the token's exp (unix seconds)")
    p.add_argument("--reason", help="with --revoke: why")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    settings = CommonSettings()
    if args.revoke:
        if args.until is None:
            parser.error("--revoke needs --until (the token's exp)")
        asyncio.run(_revoke(settings, args.revoke, args.until, args.reason))
        print(f"revoked {args.revoke}")
        return 0
    if not args.role or not args.jur:
        parser.error("--role and --jur are required")
    if Role(args.role) in PATROL_ROLES and not args.unit_id:
        parser.error(f"--unit is required for {args.role}")
    if args.ttl <= 0:
        parser.error("--ttl must be positive")
    secret = args.secret or settings.jwt_secret
    token = mint_token(
        secret=secret,
        sub=args.sub or f"{args.role}-dev",
        role=args.role,
        jur=args.jur,
        unit_id=args.unit_id,
        ttl_s=args.ttl,
    )
    try:
        # The claims must be ones the services accept.
        decode_token(token, secret=secret, province=settings.province_code)
    except Exception as exc:
        parser.error(f"these claims would be refused: {exc}")
    print(token)
    return 0


async def _revoke(settings: CommonSettings, jti: str, until: int, reason: str | None) -> None:
    from qzx_common.db import create_engine
    from qzx_common.web.revocation import revoke

    engine = create_engine(settings.async_database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await revoke(
                conn,
                jti=jti,
                expires_at=datetime.fromtimestamp(until, UTC),
                by="cli:qzx-token",
                reason=reason,
            )
    finally:
        await engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
