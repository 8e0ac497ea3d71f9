"""Deny by default: every route of every service declares an action, and every role the matrix
denies is refused (403) on it, tried one by one; every role it allows gets past the check."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sec_support import PEOPLE, api_routes, bearer, client_for

from qzx_common.web.auth import Principal, Role
from qzx_common.web.exchange import exchange_partner
from qzx_common.web.permissions import Action, permitted, required_action

pytestmark = [pytest.mark.db]

_SIGNED = exchange_partner("any").__qualname__


def _actions(dependant: Dependant) -> set[Action]:
    found = set()
    for dep in dependant.dependencies:
        if (action := required_action(dep.call)) is not None:
            found.add(action)
        found |= _actions(dep)
    return found


def _signed(dependant: Dependant) -> bool:
    return any(getattr(d.call, "__qualname__", "") == _SIGNED or _signed(d) for d in dependant.dependencies)


def routes(app: Any) -> list[tuple[APIRoute, Action | None]]:
    out = []
    for route in api_routes(app):
        if route.path.startswith("/v1/"):
            actions = _actions(route.dependant)
            assert len(actions) <= 1, f"{route.path} checks several actions: {actions}"
            out.append((route, next(iter(actions), None)))
    return out


def _url(route: APIRoute) -> str:
    return re.sub(r"\{[^}]+\}", "x-1", route.path) + "?wait=0"


def principal(role: Role) -> Principal:
    jur, unit = PEOPLE[role.value]
    return Principal(sub="t", role=role, jur=jur, unit_id=unit)


async def test_every_route_is_guarded(service_app: Any) -> None:
    unguarded = [
        f"{sorted(r.methods)} {r.path}"
        for r, action in routes(service_app)
        if action is None and not _signed(r.dependant)
    ]
    assert unguarded == [], "routes that neither require(Action.X) nor verify an exchange signature"


async def test_role_matrix_on_every_route(service_app: Any) -> None:
    checked = skipped = 0
    problems = []
    for name, app in {service_app.title: service_app}.items():
        async with client_for(app, timeout=10) as client:
            for route, action in routes(app):
                if action is None:
                    continue
                for method in route.methods:
                    for role in Role:
                        allowed = permitted(principal(role), action)
                        if allowed and (
                            route.path.endswith("/stream")
                            or (method == "GET" and "wait" in str(route.dependant.query_params))
                        ):
                            skipped += 1
                            continue  # streams and long polls: the allowed side is tested where they are
                        r = await client.request(
                            method,
                            _url(route),
                            headers=bearer(role.value),
                            json={} if method in ("POST", "PUT", "PATCH") else None,
                        )
                        body = (
                            r.json()
                            if r.headers.get("content-type", "").startswith("application/json")
                            else None
                        )
                        error = body.get("error") if isinstance(body, dict) else None
                        refused = r.status_code == 403 and error in (
                            "role_forbidden",
                            "province_scope_required",
                        )
                        if allowed == refused or r.status_code == 401:
                            problems.append(
                                f"{name} {method} {route.path} as {role.value}: {r.status_code} {error}"
                            )
                        checked += 1
    assert problems == []
    guarded = [(r, a) for r, a in routes(service_app) if a is not None]
    assert guarded, "no guarded /v1 routes found: the matrix would check nothing"
    assert checked + skipped == len(Role) * sum(len(r.methods) for r, _ in guarded)
    assert skipped < checked or not guarded
