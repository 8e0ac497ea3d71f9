"""PATCH with a field set to null on a resource that exists: refused (422) or ignored, never a
server error. schemathesis rarely gets here (its generated ids name no resource, so it sees 404s)."""

from __future__ import annotations

from typing import Any

import pytest
from sec_support import bearer, client_for
from sec_world import RIZHAO_SPOT, Org

pytestmark = [pytest.mark.db]


async def _patch_each_field_to_null(
    app: Any, path: str, fields: list[str], headers: dict[str, str]
) -> list[str]:
    problems = []
    async with client_for(app) as c:
        for name in fields:
            r = await c.patch(path, json={name: None}, headers=headers)
            if r.status_code >= 500 or r.status_code not in (200, 403, 422):
                problems.append(f"{name}: {r.status_code} {r.text[:120]}")
    return problems


async def test_a_hazard_patch_with_nulls_is_never_a_server_error(alerts_app: Any) -> None:
    headers = bearer("city_commander", "3702")
    body = {"name": "bend", "lat": 36.08, "lon": 120.38, "risk_level": "high", "admin_code": "370202"}
    async with client_for(alerts_app) as c:
        hazard = (await c.post("/v1/hazards", json=body, headers=headers)).json()["id"]
    fields = ["name", "lat", "lon", "radius_m", "risk_level", "status", "admin_code", "note"]
    assert await _patch_each_field_to_null(alerts_app, f"/v1/hazards/{hazard}", fields, headers) == []


async def test_dispatch_patches_with_nulls_are_never_a_server_error(dispatch_app: Any) -> None:
    org = Org(dispatch_app)
    unit = await org.unit(RIZHAO_SPOT, on_duty=False)
    headers = bearer("city_commander", "3711")
    officer_fields = ["name", "skills", "bound_to", "active"]
    unit_fields = ["call_sign", "capabilities", "home", "members", "status"]
    problems = await _patch_each_field_to_null(
        dispatch_app, f"/v1/officers/{unit['aux']}", officer_fields, headers
    )
    problems += await _patch_each_field_to_null(
        dispatch_app, f"/v1/units/{unit['unit']}", unit_fields, headers
    )
    assert problems == []
