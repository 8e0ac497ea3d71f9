"""Bearer-token identity. Every /v1 route (except /v1/exchange/*) depends on ``current_principal``.

HS256 with ``QZX_JWT_SECRET`` in development. Claims: sub, role, jur, unit_id (patrol roles), exp.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import jwt
from fastapi import Depends, Request

from qzx_common.web.errors import Forbidden, Unauthorized


class Role(StrEnum):
    province_commander = "province_commander"
    city_commander = "city_commander"
    dispatcher = "dispatcher"
    patrol_officer = "patrol_officer"
    auxiliary_officer = "auxiliary_officer"
    auditor = "auditor"


@dataclass(frozen=True, slots=True)
class Principal:
    sub: str
    role: Role
    jur: str
    unit_id: str | None = None

    def sees(self, admin_code: str | None) -> bool:
        """Jurisdiction scoping: the token's admin-code prefix must cover the resource's code."""
        return admin_code is not None and admin_code.startswith(self.jur)

    @property
    def is_commander(self) -> bool:
        return self.role in (Role.province_commander, Role.city_commander)


def mint_token(
    *, secret: str, sub: str, role: str, jur: str, unit_id: str | None = None, ttl_s: int = 8 * 3600
) -> str:
    claims: dict[str, object] = {"sub": sub, "role": role, "jur": jur, "exp": int(time.time()) + ttl_s}
    if unit_id:
        claims["unit_id"] = unit_id
    return jwt.encode(claims, secret, algorithm="HS256")


def decode_token(token: str, *, secret: str) -> Principal:
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the token has expired", code="token_expired") from exc
    except jwt.InvalidSignatureError as exc:
        raise Unauthorized("the token's signature does not verify", code="invalid_signature") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthorized(f"the token lacks the {exc.claim!r} claim", code="invalid_claims") from exc
    except jwt.DecodeError as exc:
        raise Unauthorized("the token is not a well-formed JWT", code="malformed_token") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"the token is not valid: {exc}", code="invalid_token") from exc
    try:
        role = Role(str(claims.get("role")))
    except ValueError as exc:
        raise Unauthorized(f"unknown role {claims.get('role')!r}", code="invalid_claims") from exc
    jur = claims.get("jur")
    if not isinstance(jur, str) or not jur.isdigit() or not 2 <= len(jur) <= 6:
        raise Unauthorized(
            "the 'jur' claim must be an admin-code prefix of 2-6 digits", code="invalid_claims"
        )
    unit_id = claims.get("unit_id")
    if role in (Role.patrol_officer, Role.auxiliary_officer) and not unit_id:
        raise Unauthorized("patrol roles need a 'unit_id' claim", code="invalid_claims")
    return Principal(sub=str(claims["sub"]), role=role, jur=jur, unit_id=unit_id)


async def current_principal(request: Request) -> Principal:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized(
            "an Authorization: Bearer <JWT> header is required",
            code="missing_token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "the Authorization header must be 'Bearer <JWT>'",
            code="malformed_token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return decode_token(token.strip(), secret=request.app.state.settings.jwt_secret)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role):
    """Dependency factory: deny unless the caller has one of ``roles``."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"role {principal.role.value} may not do this", code="role_forbidden")
        return principal

    return Depends(check)


def ensure_jurisdiction(principal: Principal, admin_code: str | None) -> None:
    if not principal.sees(admin_code):
        raise Forbidden(
            f"{admin_code} is outside your jurisdiction {principal.jur}", code="out_of_jurisdiction"
        )
