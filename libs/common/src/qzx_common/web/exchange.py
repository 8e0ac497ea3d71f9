"""HMAC-signed exchange with the ministry and the province/cities (docs/contract.md).

Every ``/v1/exchange/*`` request carries ``X-Qzx-Key-Id``, ``X-Qzx-Timestamp`` (unix seconds),
``X-Qzx-Nonce`` and ``X-Qzx-Signature`` = lowercase hex HMAC-SHA256(secret, METHOD "\\n"
path-with-query "\\n" timestamp "\\n" nonce "\\n" hex SHA-256(body)). The path and query are taken
exactly as sent on the wire (percent-encoded). Checks, in order, each with its own ``error`` code:

=========================  ======  ==============================================================
missing_signature_header   401     one of the four headers is absent
malformed_signature_header 401     timestamp not an integer, nonce not 8-128 of ``[A-Za-z0-9._-]``
unknown_key                401     key id not in ``QZX_EXCHANGE_KEYS``
stale_timestamp            401     more than 300 s before or after the server's clock
bad_signature              401     the HMAC does not match
replayed_nonce             401     (key id, nonce) already used within the window, on any replica
payload_too_large          413     body over the limit (``limits.BodySizeLimit``)
out_of_scope               403     data outside the partner's ``admin_prefix`` (routes decide)
=========================  ======  ==============================================================

Nonces are remembered in the service's Postgres schema (``exchange_nonces``, unique on
(key_id, nonce)), committed before the request is processed, so replicas see each other's nonces;
rows are purged once their timestamp is out of the window. A nonce is only spent by a request
whose signature verified, so no one can burn a partner's nonces. Failures count against the
client address like token failures (429 too_many_auth_failures).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from fastapi import FastAPI, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from qzx_common.jurisdiction import LEVELS_TEXT, in_province
from qzx_common.metrics import AUTH_FAILURES
from qzx_common.web.auth import auth_state, client_address
from qzx_common.web.errors import ApiError, Forbidden, Unauthorized

WINDOW_S = 300
HEADER_KEY_ID = "X-Qzx-Key-Id"
HEADER_TIMESTAMP = "X-Qzx-Timestamp"
HEADER_NONCE = "X-Qzx-Nonce"
HEADER_SIGNATURE = "X-Qzx-Signature"
SIGNATURE_HEADERS = (HEADER_KEY_ID, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)

_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,48}$")
_NONCE = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Partner:
    key_id: str
    secret: str
    admin_prefix: str

    def covers(self, admin_code: object) -> bool:
        return isinstance(admin_code, str) and admin_code.startswith(self.admin_prefix)

    def ensure_covers(self, admin_code: object, what: str = "data") -> None:
        if not self.covers(admin_code):
            raise out_of_scope(self, f"{what} {admin_code!r}")


def out_of_scope(partner: Partner, what: str) -> Forbidden:
    return Forbidden(
        f"{what} is outside key {partner.key_id}'s prefix {partner.admin_prefix}", code="out_of_scope"
    )


def parse_partners(raw: str, *, province: str) -> dict[str, Partner]:
    """``QZX_EXCHANGE_KEYS``: ``{"key_id": {"secret": "...", "admin_prefix": "37"}}`` (fails loudly);
    every prefix lies within ``province``."""
    try:
        data = orjson.loads(raw or "{}")
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"QZX_EXCHANGE_KEYS is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("QZX_EXCHANGE_KEYS must be a JSON object keyed by key id")
    partners = {}
    for key_id, entry in data.items():
        secret = entry.get("secret") if isinstance(entry, dict) else None
        prefix = entry.get("admin_prefix") if isinstance(entry, dict) else None
        if not _KEY_ID.match(key_id):
            raise ValueError(f"QZX_EXCHANGE_KEYS: key id {key_id!r} must be 1-48 of [A-Za-z0-9._-]")
        if not isinstance(secret, str) or len(secret) < 16:
            raise ValueError(f"QZX_EXCHANGE_KEYS[{key_id}]: 'secret' must be a string of 16+ characters")
        if not in_province(prefix, province):
            raise ValueError(
                f"QZX_EXCHANGE_KEYS[{key_id}]: 'admin_prefix' must be a prefix within province "
                f"{province} ({LEVELS_TEXT})"
            )
        partners[key_id] = Partner(key_id, secret, prefix)
    return partners


def has_nul(value: Any) -> bool:
    """True when a string anywhere in ``value`` holds NUL, which PostgreSQL text and jsonb cannot store."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


# --- signing (both sides) ---------------------------------------------------------------------


def string_to_sign(method: str, path_with_query: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path_with_query}\n{timestamp}\n{nonce}\n{digest}".encode()


def signature(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_headers(
    *,
    key_id: str,
    secret: str,
    method: str,
    path_with_query: str,
    body: bytes = b"",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four headers for one request (client side: tests, the simulator, the bench)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_urlsafe(18)
    sig = signature(secret, string_to_sign(method, path_with_query, ts, nonce, body))
    return {HEADER_KEY_ID: key_id, HEADER_TIMESTAMP: ts, HEADER_NONCE: nonce, HEADER_SIGNATURE: sig}


class ExchangeAuth(httpx.Auth):
    """httpx auth that signs every request: ``httpx.AsyncClient(auth=ExchangeAuth(key, secret))``."""

    requires_request_body = True

    def __init__(self, key_id: str, secret: str) -> None:
        self.key_id = key_id
        self.secret = secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(
            sign_headers(
                key_id=self.key_id,
                secret=self.secret,
                method=request.method,
                path_with_query=request.url.raw_path.decode("ascii"),
                body=request.content,
            )
        )
        yield request


# --- verification (server side) ---------------------------------------------------------------


def _refused(detail: str, code: str) -> Unauthorized:
    return Unauthorized(detail, code=code)


class NonceStore:
    """(key_id, nonce) pairs seen within the window, in the service's schema."""

    PURGE_EVERY_S = 60.0

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self._purged_at = float("-inf")

    async def spend(self, engine: AsyncEngine, *, key_id: str, nonce: str, timestamp: int) -> bool:
        """Record the nonce; False when it was already used (committed before returning)."""
        async with engine.begin() as conn:
            if time.monotonic() - self._purged_at >= self.PURGE_EVERY_S:
                self._purged_at = time.monotonic()
                await conn.execute(
                    text(f'DELETE FROM "{self.schema}".exchange_nonces WHERE expires_at < now()')
                )
            row = await conn.execute(
                text(
                    f'INSERT INTO "{self.schema}".exchange_nonces (key_id, nonce, expires_at) '
                    "VALUES (:key_id, :nonce, to_timestamp(:expires)) ON CONFLICT DO NOTHING RETURNING 1"
                ),
                # Kept until the timestamp leaves the window, plus a minute of clock skew.
                {"key_id": key_id, "nonce": nonce, "expires": timestamp + WINDOW_S + 60},
            )
            return row.first() is not None


@dataclass
class ExchangeState:
    partners: dict[str, Partner]
    nonces: NonceStore


def _state(app: FastAPI, schema: str) -> ExchangeState:
    state: ExchangeState | None = getattr(app.state, "qzx_exchange", None)
    if state is None:
        settings = app.state.settings
        partners = parse_partners(settings.exchange_keys, province=settings.province_code)
        state = ExchangeState(partners, NonceStore(schema))
        app.state.qzx_exchange = state
    return state


def wire_path(request: Request) -> str:
    """The path and query exactly as the client sent them (what it signed)."""
    path = request.scope.get("raw_path") or request.scope["path"].encode()
    query = request.scope.get("query_string") or b""
    return (path + (b"?" + query if query else b"")).decode("latin-1")


async def _verify(request: Request, state: ExchangeState) -> Partner:
    values = {h: request.headers.get(h) for h in SIGNATURE_HEADERS}
    missing = [h for h, v in values.items() if not v]
    if missing:
        raise _refused(f"missing exchange header(s): {', '.join(missing)}", "missing_signature_header")
    key_id, ts_raw, nonce, sig = (str(values[h]) for h in SIGNATURE_HEADERS)
    if not ts_raw.isdigit() or len(ts_raw) > 12:
        raise _refused(f"{HEADER_TIMESTAMP} must be unix seconds", "malformed_signature_header")
    if not _NONCE.match(nonce):
        raise _refused(f"{HEADER_NONCE} must be 8-128 of [A-Za-z0-9._-]", "malformed_signature_header")
    partner = state.partners.get(key_id)
    if partner is None:
        raise _refused(f"unknown exchange key {key_id[:48]!r}", "unknown_key")
    timestamp = int(ts_raw)
    if abs(time.time() - timestamp) > WINDOW_S:
        raise _refused(
            f"{HEADER_TIMESTAMP} is more than {WINDOW_S} s from the server's clock", "stale_timestamp"
        )
    body = await request.body()
    expected = signature(
        partner.secret, string_to_sign(request.method, wire_path(request), ts_raw, nonce, body)
    )
    if not _HEX64.match(sig) or not hmac.compare_digest(expected, sig):
        raise _refused("the request signature does not match", "bad_signature")
    engine = request.app.state.runtime.engine
    if not await state.nonces.spend(engine, key_id=key_id, nonce=nonce, timestamp=timestamp):
        raise _refused(f"nonce {nonce!r} was already used", "replayed_nonce")
    return partner


def exchange_partner(schema: str) -> Callable[[Request], Awaitable[Partner]]:
    """Dependency: the verified partner of a signed request (nonces kept in ``schema``);
    use as ``Annotated[Partner, Depends(exchange_partner(SCHEMA))]``."""

    async def verified(request: Request) -> Partner:
        try:
            partner = await _verify(request, _state(request.app, schema))
        except ApiError as exc:
            if exc.status_code == 401:  # 429 instead once the address used up its failures
                AUTH_FAILURES.labels(f"exchange_{exc.code}").inc()
                auth_state(request.app).throttle.failed(client_address(request))
            raise
        request.state.partner = partner
        return partner

    return verified


def create_nonce_table(schema: str) -> None:
    """Migration step: the replay guard of the exchange endpoints a service serves."""
    import sqlalchemy as sa
    from alembic import op

    op.create_table(
        "exchange_nonces",
        sa.Column("key_id", sa.String(48), nullable=False),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "nonce", name="pk_exchange_nonces"),
        schema=schema,
    )
    op.create_index("ix_exchange_nonces_expires_at", "exchange_nonces", ["expires_at"], schema=schema)
