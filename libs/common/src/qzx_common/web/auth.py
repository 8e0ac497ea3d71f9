"""Bearer-token identity. Every /v1 route (except /v1/exchange/*) depends on ``current_principal``.

Development: HS256 signed with ``QZX_JWT_SECRET`` (``qzx token`` mints them). Production: set
``QZX_JWT_JWKS_URL`` and tokens must be RS256, signed by a key of the identity provider's JWKS
(fetched in a worker thread, cached; HS256 tokens are then refused, so a leaked development secret
is worthless, except under ``QZX_DEV_MODE``, where `qzx dev` runs its development identity
provider beside `qzx token`'s HS256 tokens). ``QZX_JWT_AUDIENCE`` / ``QZX_JWT_ISSUER`` are checked when set.
Claims: sub, role, jur, unit_id (patrol roles), exp, jti (revocation, see ``revocation.py``).

Every refusal is a 401 with a precise ``error`` code: missing_token, malformed_token,
token_expired, token_not_yet_valid, invalid_signature, unknown_signing_key, invalid_algorithm,
invalid_claims, invalid_audience, invalid_issuer, token_revoked, invalid_token. Failures count
against the client address (``throttle.py``: 429 too_many_auth_failures); a valid token always passes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, Request
from jwt.types import Options

from qzx_common.audit import CLIENT_ADDRESS_LENGTH, REQUEST_ID_LENGTH, AuditContext
from qzx_common.jurisdiction import LEVELS_TEXT, PROVINCE_LENGTH, in_province
from qzx_common.metrics import AUTH_FAILURES
from qzx_common.settings import DEV_JWT_SECRET, CommonSettings
from qzx_common.web.errors import ApiError, Forbidden, Unauthorized
from qzx_common.web.revocation import RevocationList
from qzx_common.web.throttle import FailureThrottle


class Role(StrEnum):
    province_commander = "province_commander"
    city_commander = "city_commander"
    dispatcher = "dispatcher"
    patrol_officer = "patrol_officer"
    auxiliary_officer = "auxiliary_officer"
    auditor = "auditor"


PATROL_ROLES = frozenset({Role.patrol_officer, Role.auxiliary_officer})


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

    @property
    def is_patrol(self) -> bool:
        return self.role in PATROL_ROLES

    @property
    def covers_province(self) -> bool:
        return len(self.jur) == PROVINCE_LENGTH  # jur lies in the province (principal_from_claims)

    def in_unit(self, unit_id: str | None) -> bool:
        """Patrol roles act on their own unit's tasks only."""
        return unit_id is not None and unit_id == self.unit_id


def mint_token(
    *,
    secret: str,
    sub: str,
    role: str,
    jur: str,
    unit_id: str | None = None,
    ttl_s: int = 8 * 3600,
    jti: str | None = None,
) -> str:
    """A development token (HS256). Every token gets a ``jti`` so that it can be revoked."""
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": sub,
        "role": role,
        "jur": jur,
        "iat": now,
        "exp": now + ttl_s,
        "jti": jti or uuid.uuid4().hex,
    }
    if unit_id:
        claims["unit_id"] = unit_id
    return jwt.encode(claims, secret, algorithm="HS256")


# Secrets published with the project (its default, the deployment manifest's placeholder).
KNOWN_SECRETS = frozenset({DEV_JWT_SECRET, "CHANGE-ME", "change-me", "changeme", "secret"})
MIN_SECRET_BYTES = 32  # HS256 keys shorter than the hash output are guessable offline


def require_strong_secret(settings: CommonSettings) -> None:
    """Refuse to start (ValueError) with an HS256 secret anyone could know or guess, unless
    ``QZX_DEV_MODE`` is set; with ``QZX_JWT_JWKS_URL`` HS256 tokens are refused anyway."""
    if settings.dev_mode or settings.jwt_jwks_url:
        return
    secret = settings.jwt_secret
    if secret in KNOWN_SECRETS or len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(
            f"QZX_JWT_SECRET is a published or short secret (need {MIN_SECRET_BYTES}+ random bytes, "
            "e.g. `openssl rand -hex 32`); set QZX_DEV_MODE=1 to accept it for development"
        )


def _unauthorized(detail: str, code: str) -> Unauthorized:
    return Unauthorized(detail, code=code, headers={"WWW-Authenticate": f'Bearer error="{code}"'})


def _decode(
    token: str, key: Any, *, algorithms: list[str], audience: str | None, issuer: str | None
) -> dict[str, Any]:
    options: Options = {"require": ["exp", "sub"], "verify_aud": audience is not None}
    try:
        return jwt.decode(
            token, key, algorithms=algorithms, audience=audience, issuer=issuer, options=options
        )
    except jwt.ExpiredSignatureError as exc:
        raise _unauthorized("the token has expired", "token_expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise _unauthorized(
            "the token is not valid yet (nbf/iat in the future)", "token_not_yet_valid"
        ) from exc
    except jwt.InvalidSignatureError as exc:
        raise _unauthorized("the token's signature does not verify", "invalid_signature") from exc
    except jwt.InvalidAlgorithmError as exc:
        raise _unauthorized(
            f"tokens must be signed with {'/'.join(algorithms)}", "invalid_algorithm"
        ) from exc
    except jwt.MissingRequiredClaimError as exc:
        raise _unauthorized(f"the token lacks the {exc.claim!r} claim", "invalid_claims") from exc
    except jwt.InvalidAudienceError as exc:
        raise _unauthorized("the token is meant for another audience", "invalid_audience") from exc
    except jwt.InvalidIssuerError as exc:
        raise _unauthorized("the token comes from an unexpected issuer", "invalid_issuer") from exc
    except jwt.DecodeError as exc:
        raise _unauthorized("the token is not a well-formed JWT", "malformed_token") from exc
    except jwt.InvalidTokenError as exc:
        raise _unauthorized(f"the token is not valid: {exc}", "invalid_token") from exc


def principal_from_claims(claims: dict[str, Any], *, province: str) -> Principal:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 0 < len(sub) <= 128:
        raise _unauthorized("the 'sub' claim must be a person id of 1-128 characters", "invalid_claims")
    try:
        role = Role(str(claims.get("role")))
    except ValueError as exc:
        raise _unauthorized(f"unknown role {claims.get('role')!r}", "invalid_claims") from exc
    jur = claims.get("jur")
    if not in_province(jur, province):
        raise _unauthorized(
            f"the 'jur' claim must be an admin-code prefix within province {province} ({LEVELS_TEXT})",
            "invalid_claims",
        )
    unit_id = claims.get("unit_id")
    if unit_id is not None and (not isinstance(unit_id, str) or not 0 < len(unit_id) <= 64):
        raise _unauthorized("the 'unit_id' claim must be a unit id of 1-64 characters", "invalid_claims")
    if role in PATROL_ROLES and not unit_id:
        raise _unauthorized("patrol roles need a 'unit_id' claim", "invalid_claims")
    return Principal(sub=sub, role=role, jur=jur, unit_id=unit_id)


def decode_token(token: str, *, secret: str, province: str) -> Principal:
    """Verify a development (HS256) token; raises ``Unauthorized`` with a precise code."""
    claims = _decode(token, secret, algorithms=["HS256"], audience=None, issuer=None)
    return principal_from_claims(claims, province=province)


class TokenVerifier:
    """HS256 with a shared secret, or (``jwks_url`` set) RS256 keys from the identity provider."""

    def __init__(
        self,
        *,
        secret: str,
        province: str,
        jwks_url: str | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        secret_too: bool = False,
    ) -> None:
        self.secret = secret
        self.secret_too = secret_too  # development: HS256 accepted beside the JWKS
        self.province = province
        self.audience = audience
        self.issuer = issuer
        self._jwks = (
            jwt.PyJWKClient(jwks_url, cache_jwk_set=True, lifespan=300, cache_keys=True, timeout=5)
            if jwks_url
            else None
        )

    async def verify(self, token: str) -> tuple[Principal, dict[str, Any]]:
        if self._jwks is None or (self.secret_too and _algorithm(token) == "HS256"):
            key: Any = self.secret
            algorithms = ["HS256"]
        else:
            key = await asyncio.to_thread(self._signing_key, token)
            algorithms = ["RS256"]
        claims = _decode(token, key, algorithms=algorithms, audience=self.audience, issuer=self.issuer)
        return principal_from_claims(claims, province=self.province), claims

    def _signing_key(self, token: str) -> Any:
        assert self._jwks is not None
        try:
            return self._jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError as exc:
            raise ApiError(
                "the identity provider's keys cannot be fetched",
                code="identity_provider_unavailable",
                status_code=503,
            ) from exc
        except jwt.PyJWKClientError as exc:
            raise _unauthorized(
                f"no identity-provider key verifies this token: {exc}", "unknown_signing_key"
            ) from exc
        except jwt.DecodeError as exc:
            raise _unauthorized("the token is not a well-formed JWT", "malformed_token") from exc


def _algorithm(token: str) -> str | None:
    try:
        return jwt.get_unverified_header(token).get("alg")
    except jwt.DecodeError:
        return None  # the RS256 path reports it precisely


@dataclass
class AuthState:
    """Per-app identity machinery, built on first use from ``app.state.settings``."""

    verifier: TokenVerifier
    revocations: RevocationList
    throttle: FailureThrottle


def out_of_jurisdiction(admin_code: str, principal: Principal) -> Forbidden:
    return Forbidden(f"{admin_code} is outside your jurisdiction {principal.jur}", code="out_of_jurisdiction")


def ensure_sees(principal: Principal, admin_code: str) -> None:
    """403 ``out_of_jurisdiction`` unless ``admin_code`` lies in the caller's jurisdiction."""
    if not principal.sees(admin_code):
        raise out_of_jurisdiction(admin_code, principal)


def auth_state(app: FastAPI) -> AuthState:
    state: AuthState | None = getattr(app.state, "qzx_auth", None)
    if state is None:
        s = app.state.settings
        runtime = lambda: getattr(app.state, "runtime", None)  # noqa: E731
        state = AuthState(
            verifier=TokenVerifier(
                secret=s.jwt_secret,
                province=s.province_code,
                jwks_url=s.jwt_jwks_url,
                audience=s.jwt_audience,
                issuer=s.jwt_issuer,
                secret_too=s.dev_mode,
            ),
            revocations=RevocationList(
                engine=lambda: rt.engine if (rt := runtime()) else None,
                refresh_s=s.jwt_revocation_refresh_s,
                max_stale_s=s.jwt_revocation_max_stale_s,
                timeout_s=s.jwt_revocation_timeout_s,
            ),
            throttle=FailureThrottle(burst=s.auth_failure_burst, refill_per_s=s.auth_failure_refill_per_s),
        )
        app.state.qzx_auth = state
    return state


def client_address(request: Request) -> str:
    """The peer address, or the client's as forwarded by a trusted proxy (``QZX_FORWARDED_ALLOW_IPS``)."""
    return request.client.host if request.client else "unknown"


def request_audit(
    request: Request, *, principal: Principal | None = None, actor: str | None = None
) -> AuditContext:
    """The audit context of one request: who acts, its ``X-Request-Id`` (the caller's, or the one
    ``web.observability`` generated and set on the request), the client's address."""
    return AuditContext(
        principal=principal,
        actor=actor,
        request_id=(request.headers.get("x-request-id") or "")[:REQUEST_ID_LENGTH] or None,
        client_address=client_address(request)[:CLIENT_ADDRESS_LENGTH] if request.client else None,
    )


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise _unauthorized("an Authorization: Bearer <JWT> header is required", "missing_token")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("the Authorization header must be 'Bearer <JWT>'", "malformed_token")
    return token.strip()


async def current_principal(request: Request) -> Principal:
    auth = auth_state(request.app)
    try:
        principal, claims = await auth.verifier.verify(_bearer(request))
        if await auth.revocations.is_revoked(claims.get("jti")):
            raise _unauthorized("the token has been revoked", "token_revoked")
    except Unauthorized as exc:
        AUTH_FAILURES.labels(exc.code).inc()
        auth.throttle.failed(client_address(request))  # 429 instead once the address used them up
        raise
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def audit_context(request: Request, principal: CurrentPrincipal) -> AuditContext:
    """Dependency (each service's ``deps.Audit``): the audit context of a person's request."""
    return request_audit(request, principal=principal)
