"""Signing helper and partner configuration (the HTTP side is in tests/security)."""

from __future__ import annotations

import hashlib
import hmac

import httpx
import pytest

from qzx_common.web.exchange import ExchangeAuth, parse_partners, sign_headers, string_to_sign


def test_signature_is_exactly_the_contract() -> None:
    body = b'{"events": []}'
    headers = sign_headers(
        key_id="ministry",
        secret="s" * 16,
        method="post",
        path_with_query="/v1/exchange/violations?x=1",
        body=body,
        timestamp=1700000000,
        nonce="nonce-0001",
    )
    message = "POST\n/v1/exchange/violations?x=1\n1700000000\nnonce-0001\n" + hashlib.sha256(body).hexdigest()
    expected = hmac.new(b"s" * 16, message.encode(), hashlib.sha256).hexdigest()
    assert headers == {
        "X-Qzx-Key-Id": "ministry",
        "X-Qzx-Timestamp": "1700000000",
        "X-Qzx-Nonce": "nonce-0001",
        "X-Qzx-Signature": expected,
    }
    assert (
        string_to_sign("post", "/p", "1", "n", b"")
        == f"POST\n/p\n1\nn\n{hashlib.sha256(b'').hexdigest()}".encode()
    )


def test_httpx_auth_signs_the_wire_path_and_fresh_nonces() -> None:
    auth = ExchangeAuth("k", "s" * 16)
    req = httpx.Request("GET", "http://x/v1/exchange/feed?cursor=a%20b&limit=5")
    first = next(auth.auth_flow(req)).headers["X-Qzx-Nonce"]
    signed = next(auth.auth_flow(req))
    assert signed.headers["X-Qzx-Nonce"] != first
    message = string_to_sign(
        "GET",
        "/v1/exchange/feed?cursor=a%20b&limit=5",
        signed.headers["X-Qzx-Timestamp"],
        signed.headers["X-Qzx-Nonce"],
        b"",
    )
    assert signed.headers["X-Qzx-Signature"] == hmac.new(b"s" * 16, message, hashlib.sha256).hexdigest()


def test_partner_configuration() -> None:
    partners = parse_partners(
        province="37", raw='{"ministry": {"secret": "0123456789abcdef", "admin_prefix": "37"}}'
    )
    assert partners["ministry"].covers("370202") and not partners["ministry"].covers("110101")
    assert not partners["ministry"].covers(None)
    assert parse_partners(province="37", raw="") == {}


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[]",
        '{"k": {"secret": "short", "admin_prefix": "37"}}',
        '{"k": {"secret": "0123456789abcdef", "admin_prefix": "3x"}}',
        '{"k": {"secret": "0123456789abcdef", "admin_prefix": "11"}}',  # another province
        '{"k": {"secret": "0123456789abcdef", "admin_prefix": "３７０２"}}',  # full-width digits
        '{"k": {"secret": "0123456789abcdef", "admin_prefix": "371"}}',  # no such level
        '{"k y": {"secret": "0123456789abcdef", "admin_prefix": "37"}}',
        '{"k": "0123456789abcdef"}',
    ],
)
def test_bad_partner_configuration_fails_loudly(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_partners(province="37", raw=raw)
