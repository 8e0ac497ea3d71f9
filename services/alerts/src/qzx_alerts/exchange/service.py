"""Hotlists from partners merged through the hotlists service; the feed; daily statistics.

A partner's entries are owned by its ``admin_prefix`` unless they name a narrower ``admin_code``
inside it; an entry naming a code outside the prefix is refused on its own (``out_of_scope: ...``),
like the violations exchange. Each batch leaves one audit entry.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from qzx_alerts.db import SCHEMA
from qzx_alerts.exchange import repository
from qzx_alerts.exchange.schemas import CityStats, DailyStats, Feed, HotlistResult, ItemError
from qzx_alerts.hotlists.schemas import HotlistIn
from qzx_alerts.hotlists.service import merge_hotlist_entries, owner_code
from qzx_common import audit
from qzx_common.audit import AuditContext
from qzx_common.contracts.events import describe_error
from qzx_common.contracts.geo import CITIES
from qzx_common.web.exchange import Partner, has_nul
from qzx_common.web.pagination import encode_cursor

CHINA = timezone(timedelta(hours=8))


def source_of(partner: Partner) -> str:
    return f"exchange:{partner.key_id}"


def _validated(partner: Partner, entries: Sequence[Any]) -> tuple[list[HotlistIn], list[ItemError]]:
    valid: dict[str, HotlistIn] = {}
    rejected = []
    for index, item in enumerate(entries):
        if has_nul(item):  # refused here rather than failing the whole batch in the database
            rejected.append(ItemError(index=index, error="body: NUL characters (\\u0000) are not allowed"))
            continue
        if isinstance(item, dict) and "source" in item:
            rejected.append(ItemError(index=index, error="source: set by the exchange (exchange:<key id>)"))
            continue
        try:
            entry = HotlistIn.model_validate(item)
        except ValidationError as exc:
            rejected.append(ItemError(index=index, error=describe_error(exc)))
            continue
        owner = entry.admin_code or owner_code(partner.admin_prefix)
        if not partner.covers(owner):
            rejected.append(
                ItemError(
                    index=index,
                    error=f"out_of_scope: admin_code {owner} is outside prefix {partner.admin_prefix}",
                )
            )
            continue
        valid[entry.plate] = entry.model_copy(update={"admin_code": owner})
    return list(valid.values()), rejected


async def receive_hotlists(
    session: AsyncSession,
    *,
    partner: Partner,
    entries: Sequence[Any],
    audit_context: AuditContext,
    nonce: str | None = None,
) -> HotlistResult:
    valid, rejected = _validated(partner, entries)
    source = source_of(partner)
    await repository.lock_source(session, source)
    merged = await merge_hotlist_entries(
        session, source=source, entries=valid, created_by=source, admin_code=owner_code(partner.admin_prefix)
    )
    result = HotlistResult(
        created=len(merged.created),
        updated=len(merged.updated),
        unchanged=len(merged.unchanged),
        rejected=rejected,
    )
    await audit.record(
        session,
        schema=SCHEMA,
        context=audit_context,
        action="exchange.hotlists.receive",
        target_type="exchange_batch",
        target_id=f"{partner.key_id}:{nonce}" if nonce else partner.key_id,
        admin_code=partner.admin_prefix,
        after={
            "entries": len(entries),
            "created": merged.created,
            "updated": merged.updated,
            "unchanged": len(merged.unchanged),
            "rejected": len(rejected),
        },
    )
    return result


async def feed(conn: AsyncConnection, *, partner: Partner, after: int, limit: int) -> Feed:
    rows = await repository.changes_after(conn, after=after, prefix=partner.admin_prefix, limit=limit)
    last = rows[-1].id if rows else after
    return Feed(items=[orjson.loads(r.payload) for r in rows], next_cursor=encode_cursor(last))


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The calendar day in China Standard Time (the force's working day)."""
    start = datetime.combine(day, time.min, tzinfo=CHINA)
    return start, start + timedelta(days=1)


def today() -> date:
    return datetime.now(CHINA).date()


async def daily_stats(conn: AsyncConnection, *, partner: Partner, day: date) -> DailyStats:
    start, end = day_bounds(day)
    prefix = partner.admin_prefix
    cities = {
        c.code[:4]: CityStats(
            city_code=c.code,
            name=c.name,
            violations=0,
            violations_by_type={},
            alerts=0,
            alerts_by_priority={},
            dispatched=0,
            resolved=0,
            dismissed=0,
            escalated=0,
        )
        for c in CITIES
        if c.code.startswith(prefix[:4]) or prefix.startswith(c.code[:4])
    }
    by_type: dict[str, dict[str, int]] = defaultdict(dict)
    for r in await repository.violations_per_city(conn, start=start, end=end, prefix=prefix):
        if (city := cities.get(r["city"])) is not None:
            city.violations += r["n"]
            by_type[r["city"]][r["violation"]] = r["n"]
    for code, counts in by_type.items():
        cities[code].violations_by_type = dict(sorted(counts.items()))
    for r in await repository.alerts_per_city(conn, start=start, end=end, prefix=prefix):
        if (city := cities.get(r["city"])) is not None:
            city.alerts += r["n"]
            city.alerts_by_priority[r["priority"]] = r["n"]
            for field in ("dispatched", "resolved", "dismissed", "escalated"):
                setattr(city, field, getattr(city, field) + r[field])
    return DailyStats(date=day, cities=sorted(cities.values(), key=lambda c: c.city_code))
