"""Dispatch's HTTP API as the simulated patrol apps use it: one shared client, per-call tokens,
failures sorted into "try again later" (``Unavailable``) and "the server said no" (``Refused``)."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from qzx_common.web.auth import mint_token

TOKEN_TTL_S = 8 * 3600
PAGE = 500  # the API's largest page


class Unavailable(Exception):
    """Dispatch cannot be reached or answered 5xx/429: the same call may work later."""


class Refused(Exception):
    """A 4xx answer other than 429: the call as made will not work."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.detail = status, code, detail


@dataclass(frozen=True)
class Identity:
    sub: str
    role: str
    jur: str
    unit_id: str | None = None


class Tokens:
    """Development tokens, minted on first use and again before they expire (or after a 401)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self._cache: dict[Identity, tuple[str, float]] = {}

    def get(self, who: Identity) -> str:
        token, minted = self._cache.get(who, ("", 0.0))
        if not token or time.monotonic() - minted > TOKEN_TTL_S / 2:
            token = mint_token(
                secret=self.secret,
                sub=who.sub,
                role=who.role,
                jur=who.jur,
                unit_id=who.unit_id,
                ttl_s=TOKEN_TTL_S,
            )
            self._cache[who] = (token, time.monotonic())
        return token

    def forget(self, who: Identity) -> None:
        self._cache.pop(who, None)


class DispatchApi:
    def __init__(self, client: httpx.AsyncClient, tokens: Tokens) -> None:
        self.client = client
        self.tokens = tokens

    async def call(
        self,
        method: str,
        path: str,
        who: Identity,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        # One simulated phone per unit (dispatch records a person acting from two devices at once).
        headers = {
            "Authorization": f"Bearer {self.tokens.get(who)}",
            "X-Device-Id": f"patrol-sim-{who.unit_id}",
        }
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            r = await self.client.request(method, path, params=params, json=json, headers=headers, **extra)
        except httpx.TransportError as exc:
            raise Unavailable(f"{type(exc).__name__}: {exc or 'no detail'}") from exc
        if r.status_code == 429 or r.status_code >= 500:
            raise Unavailable(f"{r.status_code} {_error(r)[0]}")
        if r.status_code >= 400:
            if r.status_code == 401:
                self.tokens.forget(who)  # expired or minted with another secret: mint afresh next time
            raise Refused(r.status_code, *_error(r))
        return r.json()

    async def pages(self, path: str, who: Identity, params: dict[str, Any] | None = None) -> list[Any]:
        """Every item of a keyset-paged list."""
        items: list[Any] = []
        cursor: str | None = None
        while True:
            query = {**(params or {}), "limit": PAGE} | ({"cursor": cursor} if cursor else {})
            body = await self.call("GET", path, who, params=query)
            items += body["items"]
            cursor = body.get("next_cursor")
            if not cursor:
                return items


def _error(r: httpx.Response) -> tuple[str, str]:
    try:
        body = r.json()
        return str(body.get("error", "error")), str(body.get("detail", ""))
    except ValueError:
        return "error", r.text[:200]


@dataclass(frozen=True)
class DutyUnit:
    """An on-duty unit as discovery found it, with the identity its patrol app signs in with."""

    id: str
    call_sign: str
    identity: Identity
    lat: float
    lon: float


async def on_duty_units(api: DispatchApi, who: Identity) -> list[DutyUnit]:
    """Units whose board state is anything but off duty, sorted by id."""
    board = await api.call("GET", "/v1/units/board", who)
    on_duty = {e["unit_id"]: e for e in board["units"] if e["state"] != "off_duty"}
    units = {u["id"]: u for u in await api.pages("/v1/units", who)}
    found = []
    for unit_id in sorted(on_duty):
        unit = units.get(unit_id)
        if unit is None:  # created between the two reads: next round
            continue
        where = on_duty[unit_id].get("location") or unit.get("location") or unit["home"]
        found.append(
            DutyUnit(
                id=unit_id,
                call_sign=unit["call_sign"],
                identity=patrol_identity(unit),
                lat=float(where["lat"]),
                lon=float(where["lon"]),
            )
        )
    return found


def patrol_identity(unit: dict[str, Any]) -> Identity:
    """A sworn member signs in when the unit has one (auxiliaries never act alone); an
    auxiliary-only unit signs in as its first auxiliary."""
    members = unit.get("members") or []
    sworn = [m["id"] for m in members if m.get("kind") == "sworn"]
    if sworn:
        sub, role = sworn[0], "patrol_officer"
    elif members:
        sub, role = members[0]["id"], "auxiliary_officer"
    else:
        sub, role = f"patrol-sim-{unit['id']}", "patrol_officer"
    return Identity(sub=sub, role=role, jur=str(unit["admin_code"])[:4], unit_id=unit["id"])


class Backoff:
    """Exponential back-off with jitter; ``failures`` counts the current run of failures."""

    def __init__(self, first: float = 0.5, cap: float = 30.0, rng: random.Random | None = None) -> None:
        self.first, self.cap = first, cap
        self.failures = 0
        self.rng = rng or random.Random()

    def delay(self) -> float:
        self.failures += 1
        base = min(self.cap, self.first * 2 ** (self.failures - 1))
        return base * (0.5 + self.rng.random() / 2)

    def should_log(self) -> bool:
        """The first failure of a run, then every tenth: clear logs without a flood."""
        return self.failures == 1 or self.failures % 10 == 0

    def reset(self) -> bool:
        """True when this ends a run of failures."""
        was, self.failures = self.failures, 0
        return was > 0


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; True when ``stop`` was set meanwhile."""
    if seconds <= 0:
        return stop.is_set()
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


def parse_time(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)
