"""Reads for the checkpoint matcher: the hotlist entries (all at start, then the changed ones) and
the learned travel times."""

from __future__ import annotations

from typing import Any

from qzx_alerts.checkpoints.index import HotlistIndex, WatchEntry, expires_ts
from qzx_alerts.db import SCHEMA
from qzx_alerts.scoring.correlation import Learned, Pair
from qzx_alerts.scoring.domain import HotlistHit
from qzx_common.contracts.alerts import Priority
from qzx_common.contracts.geo import code_prefix

_ENTRY = "id, plate, plate_color, priority, reason, source, covert, admin_code, expires_at"
# An identity id can become visible after a larger one (transactions commit out of order): each
# look also takes the changes of the last seconds again (applying a change twice is harmless).
RELOOK_S = 30
# Changes older than this are pruned (a matcher starting loads the entries themselves).
KEEP_CHANGES_H = 24


def _entry(r: Any, shared: dict[str, str]) -> WatchEntry:
    """An entry, its repeated strings (a list's reason and source, owners) held once."""
    hit = HotlistHit(
        r["id"],
        r["plate"],
        Priority(r["priority"]),
        shared.setdefault(r["reason"], r["reason"]),
        shared.setdefault(r["source"], r["source"]),
        r["covert"],
        shared.setdefault(code := code_prefix(r["admin_code"]), code),
    )
    return WatchEntry(hit, r["plate_color"], expires_ts(r["expires_at"]))


async def load(raw: Any, index: HotlistIndex) -> None:
    """Every active entry; the cursor read first, so that a change made meanwhile is seen again."""
    index.cursor = await raw.fetchval(f"SELECT coalesce(max(id), 0) FROM {SCHEMA}.hotlist_changes")
    rows = await raw.fetch(
        f"SELECT {_ENTRY} FROM {SCHEMA}.hotlists WHERE expires_at IS NULL OR expires_at > now()"
    )
    shared: dict[str, str] = {}
    index.replace((), (_entry(r, shared) for r in rows))


async def follow(raw: Any, index: HotlistIndex) -> int:
    """Apply the entries changed since the last look; returns how many."""
    changes = await raw.fetch(
        f"SELECT id, entry_id FROM {SCHEMA}.hotlist_changes "
        f"WHERE id > $1 OR at > clock_timestamp() - make_interval(secs => {RELOOK_S})",
        index.cursor,
    )
    if not changes:
        return 0
    ids = sorted({c["entry_id"] for c in changes})
    rows = await raw.fetch(
        f"SELECT {_ENTRY} FROM {SCHEMA}.hotlists WHERE id = ANY($1::text[]) "
        "AND (expires_at IS NULL OR expires_at > now())",
        ids,
    )
    index.replace(ids, (_entry(r, {}) for r in rows))
    index.cursor = max(index.cursor, max(c["id"] for c in changes))
    return len(ids)


async def prune_changes(raw: Any) -> None:
    await raw.execute(
        f"DELETE FROM {SCHEMA}.hotlist_changes WHERE at < now() - make_interval(hours => {KEEP_CHANGES_H})"
    )


async def learned_travel(raw: Any) -> dict[Pair, Learned]:
    """Every pair's learned fastest passage (pairs of devices a plate was seen travelling between)."""
    rows = await raw.fetch(f"SELECT device_a, device_b, min_s, samples FROM {SCHEMA}.device_travel")
    return {(r["device_a"], r["device_b"]): (r["min_s"], r["samples"]) for r in rows}
