"""Builders of the alerts and dispatch worlds the jurisdiction, audit and auxiliary tests act in.

Alerts are made by the real scoring pipeline (``apply_violation_batch``, what the consumer runs);
dispatch's organisation through its management API; tasks by the real intake (what the alerts.v1
consumer runs). Nothing is inserted behind the services' backs.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sec_support import bearer, client_for
from sqlalchemy import text

from qzx_common.contracts.alerts import Alert
from qzx_common.contracts.events import ViolationEvent
from qzx_dev.samples import make_event

_PLATE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
_serial = itertools.count(1)

# Device positions of the two cities the tests set against each other (districts the reference
# jurisdictions know).
JINAN_SPOT = {"lat": 36.651, "lon": 117.120, "admin_code": "370102", "road": "G2", "km": 412.3}
QINGDAO_SPOT = {"lat": 36.08341, "lon": 120.38204, "admin_code": "370202", "road": "S7", "km": 12.0}
# Cities no other test dispatches in: the audit and auxiliary tests build their units there.
RIZHAO_SPOT = {"lat": 35.42462, "lon": 119.54558, "admin_code": "371102", "road": "G15", "km": 3.0}
WEIHAI_SPOT = {"lat": 37.51614, "lon": 122.13518, "admin_code": "371002", "road": "G3", "km": 5.0}


def somewhere_near(spot: dict[str, Any]) -> dict[str, Any]:
    """A random point within about 3 km of ``spot``, in the same district. A unit placed exactly
    there is the only one zero minutes from an alert there, whatever units earlier tests left."""
    return spot | {
        "lat": spot["lat"] + random.uniform(-0.03, 0.03),
        "lon": spot["lon"] + random.uniform(-0.03, 0.03),
    }


def new_plate(letter: str = "B") -> str:
    """A fresh plate, so that tests sharing the session's database never meet."""
    return f"鲁{letter}" + "".join(random.choices(_PLATE_CHARS, k=5))


def request_id() -> str:
    return f"sec-{uuid.uuid4().hex}"


async def audit_rows(app: Any, schema: str, request_id: str) -> list[dict[str, Any]]:
    """The audit entries a request left (found by its X-Request-Id)."""
    async with app.state.runtime.engine.connect() as conn:
        rows = await conn.execute(
            text(f'SELECT * FROM "{schema}".audit_log WHERE request_id = :r ORDER BY id'), {"r": request_id}
        )
        return [dict(r) for r in rows.mappings()]


# -- alerts --------------------------------------------------------------------------------------


def city_event(spot: dict[str, Any], **over: Any) -> dict[str, Any]:
    """A drunk-driving event at ``spot`` with a fresh plate (one new alert each)."""
    device = f"{spot['admin_code']}-CK-0001" if spot["admin_code"] == "370202" else "370102-CK-0042"
    return make_event(**({"device_id": device, "location": dict(spot), "plate": new_plate()} | over))


async def score(alerts_app: Any, events: Sequence[dict[str, Any]]) -> None:
    """Run the scoring pipeline over accepted events, in one transaction, as the consumer does."""
    from qzx_alerts.scoring.service import apply_violation_batch

    values = [ViolationEvent.model_validate(e).model_dump_json(exclude_none=True).encode() for e in events]
    scoring = alerts_app.state.service.scoring
    async with alerts_app.state.runtime.engine.begin() as conn:
        await apply_violation_batch(
            conn,
            values=values,
            rules=scoring.rules,
            hazards=scoring.hazards,
        )


async def alert_of(alerts_app: Any, plate: str) -> dict[str, Any]:
    """The one alert the tests made for ``plate`` (read by a province commander)."""
    async with client_for(alerts_app) as c:
        r = await c.get("/v1/alerts", params={"plate": plate}, headers=bearer("province_commander"))
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == 1, items
    return dict(items[0])


async def new_alerts(alerts_app: Any, *spots: dict[str, Any]) -> list[dict[str, Any]]:
    """One fresh alert per spot."""
    events = [city_event(s) for s in spots]
    await score(alerts_app, events)
    return [await alert_of(alerts_app, e["plate"]) for e in events]


# -- dispatch ------------------------------------------------------------------------------------


# Every unit the Org builders made: unit id → its ids (crew_member looks up who may act for it).
CREWS: dict[str, dict[str, Any]] = {}


def crew_member(unit_id: str, role: str = "patrol_officer") -> str:
    """The officer of the unit's crew a patrol token of ``role`` names: its sworn officer, or its
    first auxiliary (patrol actions are signed by one person on the unit's current roster)."""
    unit = CREWS[unit_id]
    return str(
        unit["aux"] if role == "auxiliary_officer" or unit["sworn"] not in unit["members"] else unit["sworn"]
    )


def crew_bearer(role: str, jur: str, unit_id: str) -> dict[str, str]:
    return bearer(role, jur, unit_id, sub=crew_member(unit_id, role))


class Org:
    """Officers, units and rosters through dispatch's management API (as a province commander)."""

    def __init__(self, dispatch_app: Any) -> None:
        self.app = dispatch_app
        self.headers = bearer("province_commander")

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with client_for(self.app) as c:
            r = await c.post(path, json=body, headers=self.headers)
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def officer(self, kind: str, admin_code: str, bound_to: str | None = None) -> str:
        body = {"name": f"officer {next(_serial)}", "kind": kind, "admin_code": admin_code}
        return str((await self.post("/v1/officers", body | {"bound_to": bound_to}))["id"])

    async def unit(
        self,
        spot: dict[str, Any],
        *,
        crew: str = "mixed",
        capabilities: Sequence[str] = ("breathalyser", "weighing", "pursuit", "interception", "ebike"),
        offset_km: float = 0.0,
        on_duty: bool = True,
    ) -> dict[str, Any]:
        """A car ``offset_km`` north of ``spot``: crew "mixed" (a sworn officer and a bound auxiliary) or "auxiliary"
        (two auxiliaries, bound to a sworn officer who is not on the unit). On duty from an hour ago
        for two hours unless ``on_duty`` is false. Returns ids: unit, sworn, auxiliary, roster."""
        code = spot["admin_code"]
        sworn = await self.officer("sworn", code)
        aux = await self.officer("auxiliary", code, bound_to=sworn)
        members = [sworn, aux] if crew == "mixed" else [aux, await self.officer("auxiliary", code, sworn)]
        unit_id = f"SEC-U-{uuid.uuid4().hex[:8]}"
        await self.post(
            "/v1/units",
            {
                "id": unit_id,
                "call_sign": f"sec {next(_serial)}",
                "admin_code": code,
                "vehicle": "car",
                "capabilities": list(capabilities),
                "home": {"lat": spot["lat"] + offset_km / 111.0, "lon": spot["lon"]},
                "members": members,
            },
        )
        out: dict[str, Any] = {
            "unit": unit_id,
            "sworn": sworn,
            "aux": aux,
            "members": members,
            "roster": None,
        }
        CREWS[unit_id] = out
        if on_duty:
            out["roster"] = await self.roster(unit_id, hours=(-1, 1))
        return out

    async def roster(self, unit_id: str, *, hours: tuple[float, float], crew: list[str] | None = None) -> int:
        now = datetime.now(UTC)
        body: dict[str, Any] = {
            "unit_id": unit_id,
            "starts_at": (now + timedelta(hours=hours[0])).isoformat(),
            "ends_at": (now + timedelta(hours=hours[1])).isoformat(),
        }
        if crew is not None:
            body["crew"] = crew
        return int((await self.post("/v1/rosters", body))["id"])

    async def drop_roster(self, roster_id: int) -> None:
        async with client_for(self.app) as c:
            r = await c.delete(f"/v1/rosters/{roster_id}", headers=self.headers)
        assert r.status_code == 204, r.text


def make_alert(spot: dict[str, Any], **over: Any) -> Alert:
    """An alert as alerts publishes it on alerts.v1 (P2: no reserve rule, two minutes to sign)."""
    now = datetime.now(UTC)
    data: dict[str, Any] = {
        "id": f"SEC-A-{uuid.uuid4().hex[:12]}",
        "status": "new",
        "priority": "P2",
        "score": 80.0,
        "factors": [{"name": "bac", "value": 92, "contribution": 60, "why": "BAC 92 ≥ 80: drunk driving"}],
        "violations": ["drunk_driving"],
        "plate": new_plate(),
        "admin_code": spot["admin_code"],
        "location": {k: spot[k] for k in ("lat", "lon", "admin_code", "road", "km")},
        "first_seen": (now - timedelta(seconds=5)).isoformat(),
        "last_seen": (now - timedelta(seconds=5)).isoformat(),
        "count": 1,
        "event_ids": [f"sec-e-{uuid.uuid4().hex[:8]}"],
        "kind": "violation",
        "version": 1,
    }
    return Alert.model_validate(data | over)


async def intake(dispatch_app: Any, alert: Alert) -> str:
    """What the alerts.v1 consumer does with one alert version: "assigned", "pending", ..."""
    from qzx_common.db import transaction
    from qzx_dispatch.tasks.intake import intake as run_intake

    async with transaction(dispatch_app.state.runtime.sessions) as s:
        return await run_intake(
            s, alert=alert, settings=dispatch_app.state.settings, now=dispatch_app.state.service.clock.now()
        )


async def task_for(client: httpx.AsyncClient, alert_id: str) -> dict[str, Any] | None:
    """The alert's active task, read by a province commander."""
    r = await client.get(
        "/v1/tasks",
        params={"alert_id": alert_id, "status": ["assigned", "signed", "en_route", "on_scene"]},
        headers=bearer("province_commander"),
    )
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    return dict(items[0]) if items else None
