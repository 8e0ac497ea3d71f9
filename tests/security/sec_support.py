"""Shared builders of the security tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from fastapi.routing import APIRoute

from qzx_common.web.auth import mint_token
from qzx_dev.samples import make_event
from qzx_dev.testing import Stack

SECRET = "security-test-secret-0123456789abcdef"
PARTNERS = {
    "ministry": {"secret": "ministry-secret-0123456789", "admin_prefix": "37"},
    "qingdao": {"secret": "qingdao-secret-0123456789", "admin_prefix": "3702"},
}
UNIT = "U-370202-01"

# Role -> (jur, unit) of the people the tests act as.
PEOPLE: dict[str, tuple[str, str | None]] = {
    "province_commander": ("37", None),
    "city_commander": ("3702", None),
    "dispatcher": ("3702", None),
    "patrol_officer": ("370202", UNIT),
    "auxiliary_officer": ("370202", UNIT),
    "auditor": ("37", None),
}


def common_settings(stack: Stack, **over: Any) -> dict[str, Any]:
    return {
        **stack.db_settings(),
        "kafka_bootstrap": stack.bootstrap,
        "topic_prefix": stack.topic_prefix,
        "log_json": False,
        "jwt_secret": SECRET,
        "exchange_keys": json.dumps(PARTNERS),
        "jwt_revocation_refresh_s": 0.2,
        # These tests fail authentication on purpose hundreds of times from one address.
        "auth_failure_burst": 1_000_000,
    } | over


def token(
    role: str, jur: str | None = None, unit: str | None = None, sub: str | None = None, **kw: Any
) -> str:
    default_jur, default_unit = PEOPLE[role]
    return mint_token(
        secret=SECRET,
        sub=sub or f"{role}-{jur or default_jur}",
        role=role,
        jur=jur or default_jur,
        unit_id=unit or default_unit,
        **kw,
    )


def bearer(role: str, jur: str | None = None, unit: str | None = None, **kw: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, jur, unit, **kw)}"}


def api_routes(app: Any) -> list[APIRoute]:
    """Every APIRoute the app serves. FastAPI 0.165 keeps included routers as ``_IncludedRouter``
    entries in ``app.routes`` (their routes are not listed there), so walk the route contexts."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: included routes are copied into app.routes
        return [r for r in app.routes if isinstance(r, APIRoute)]
    found = [ctx.original_route for ctx in iter_route_contexts(app.routes)]
    routes = [r for r in found if isinstance(r, APIRoute)]
    assert routes, "no API routes found: has FastAPI changed how it lists them?"
    return routes


def client_for(app: Any, **kw: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc", **kw)


QINGDAO = {"lat": 36.07, "lon": 120.38, "admin_code": "370202", "road": "S7", "km": 12.0}
JINAN = {"lat": 36.651, "lon": 117.120, "admin_code": "370102", "road": "G2", "km": 412.3}


def qingdao_event(**over: Any) -> dict[str, Any]:
    return make_event(**({"device_id": "370202-CK-0001", "location": QINGDAO} | over))


def jinan_event(**over: Any) -> dict[str, Any]:
    return make_event(**({"device_id": "370102-CK-0042", "location": JINAN} | over))


def tag() -> str:
    return uuid.uuid4().hex[:8]
