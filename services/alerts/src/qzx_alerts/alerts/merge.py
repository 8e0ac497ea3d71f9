"""Deduplication: proposals about the same thing (dedup key) within the window update the open
alert instead of opening another. Pure: the pipeline loads the open alerts and writes the result."""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from operator import attrgetter
from typing import Any

import orjson

from qzx_alerts.scoring.domain import FINDING_FIELDS, FindingFacts, Proposal
from qzx_alerts.scoring.rules import highest
from qzx_common.contracts.alerts import Priority

_ID_SPACE = uuid.UUID("5f0d6c2e-8a4b-4c1e-9a59-7d1f3c2b9e10").bytes


def alert_id(dedup_key: str, seed: str) -> str:
    """Deterministic: the same finding always names the same alert (idempotent creation).
    ``str(uuid.uuid5(_ID_SPACE, f"{dedup_key}|{seed}"))``, without building UUID objects."""
    b = bytearray(hashlib.sha1(_ID_SPACE + f"{dedup_key}|{seed}".encode()).digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x50  # version 5
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(slots=True)
class OpenAlert(FindingFacts):
    """The fields of an alert the scoring side owns (status and task fields belong to lifecycle)."""

    id: str
    count: int
    event_ids: list[str]
    created: bool = False
    # Created from a proposal whose seed is new (Proposal.seed_is_new): no row with this id exists.
    unseen: bool = False
    # The event ids folded in so far (None: exactly ``event_ids``, built when first needed).
    known: set[str] | None = None
    # ``factors`` as JSON, encoded once for the stored row and the published state alike.
    encoded_factors: bytes | None = field(default=None, init=False, repr=False)

    def factors_json(self) -> bytes:
        if self.encoded_factors is None:
            self.encoded_factors = orjson.dumps(self.factors)
        return self.encoded_factors

    @classmethod
    def from_row(cls, row: Any) -> OpenAlert:
        a = cls(**{n: row[n] for n in ROW_FIELDS})
        a.priority = _PRIORITY[a.priority]
        a.event_ids = list(a.event_ids)
        # Sorted and distinct, as every write leaves them (``_absorb`` relies on it).
        a.violations = sorted(set(a.violations))
        a.plates = sorted(set(a.plates))
        return a


# The stored fields (a column each; the others are the batch's bookkeeping).
ROW_FIELDS = tuple(
    f for f in OpenAlert.__dataclass_fields__ if f not in {"created", "unseen", "known", "encoded_factors"}
)
_PRIORITY = {p.value: p for p in Priority}
_finding_values = attrgetter(*FINDING_FIELDS)


def _new(p: Proposal) -> OpenAlert:
    # The alert takes over the proposal's lists (``merge`` is given the proposals to consume);
    # ``_absorb`` replaces violations and plates and extends only the event ids, which it owns.
    return OpenAlert(
        **dict(zip(FINDING_FIELDS, _finding_values(p), strict=True)),
        id=alert_id(p.dedup_key, p.seed),
        count=len(p.event_ids),
        event_ids=list(p.event_ids),
        created=True,
        unseen=p.seed_is_new,
    )


def _absorb(a: OpenAlert, p: Proposal, max_event_ids: int) -> bool:
    """Fold ``p`` into ``a``; False when it brings nothing new (a redelivered event)."""
    if a.known is None:
        a.known = set(a.event_ids)
    fresh = [e for e in p.event_ids if e not in a.known]
    if not fresh:
        return False
    a.known.update(fresh)
    a.count += len(fresh)
    room = max_event_ids - len(a.event_ids)  # the alert owns its list: extend it in place
    if room > 0:
        a.event_ids.extend(fresh[:room])
    elif room < 0:
        a.event_ids = a.event_ids[:max_event_ids]
    if p.last_seen >= a.last_seen:  # the latest position is where to send a unit
        a.last_seen = p.last_seen
        a.admin_code, a.lat, a.lon, a.road, a.km, a.device_id = (
            p.admin_code,
            p.lat,
            p.lon,
            p.road,
            p.km,
            p.device_id,
        )
        if p.evidence:  # and the latest pictures are what the officer looks for
            a.evidence = p.evidence
    a.first_seen = min(a.first_seen, p.first_seen)
    if p.score > a.score:  # the alert is explained by its most serious event
        a.score, a.factors, a.encoded_factors = p.score, p.factors, None
    a.priority = highest(a.priority, p.priority)
    a.violations = _union(a.violations, p.violations)
    a.plates = _union(a.plates, p.plates)
    return True


def _union(ordered: list[str], more: list[str]) -> list[str]:
    """``sorted(set(ordered) | set(more))`` for a sorted, distinct ``ordered``, without rebuilding
    it when ``more`` adds nothing (a racing group's plates are absorbed many times a batch)."""
    extra = set(more).difference(ordered)
    return sorted(extra.union(ordered)) if extra else ordered


def _target(alerts: list[OpenAlert], p: Proposal, window: timedelta) -> OpenAlert | None:
    """The latest of ``alerts`` (oldest first) whose span meets ``p``'s window and could take ``p``
    without covering more than ``p.max_span_s``. Trying the earlier ones too matters when findings
    arrive out of order: a racing-group finding from the middle of an episode belongs to the alert
    that covers that time, not to a new one beside it because a later alert is full."""
    start, end = p.first_seen - window, p.last_seen + window
    for a in reversed(alerts):
        if start <= a.last_seen and end >= a.first_seen and not _too_long(a, p):
            return a
    return None


def _too_long(a: OpenAlert, p: Proposal) -> bool:
    """Absorbing ``p`` would stretch ``a`` beyond the span findings of its kind may cover."""
    if p.max_span_s is None:
        return False
    span = max(a.last_seen, p.last_seen) - min(a.first_seen, p.first_seen)
    return span.total_seconds() > p.max_span_s


def merge(
    open_alerts: Iterable[OpenAlert], proposals: Iterable[Proposal], *, max_event_ids: int
) -> list[OpenAlert]:
    """Apply proposals (oldest first) to the open alerts; returns the alerts created or changed.

    A proposal goes to the alert of its key that was active last among those whose span meets its
    window (alerts created here count as later) and that can take it (``Proposal.max_span_s``). So
    for a proposal without a span limit the caller need only load that one stored alert: one it did
    not load meets no window, or a later one does too; with a limit, the stored alerts it would fit
    in (``alerts.service.lookup_window``)."""
    by_key: dict[str, list[OpenAlert]] = defaultdict(list)
    for a in sorted(open_alerts, key=lambda a: (a.last_seen, a.id)):
        by_key[a.dedup_key].append(a)
    touched: dict[str, OpenAlert] = {}
    windows: dict[int, timedelta] = {}
    for p in sorted(proposals, key=lambda p: (p.first_seen, p.seed)):
        window = windows.get(p.window_s) or windows.setdefault(p.window_s, timedelta(seconds=p.window_s))
        target = _target(by_key[p.dedup_key], p, window)
        if target is None:  # the first alert about this, or the next one
            target = _new(p)
            by_key[p.dedup_key].append(target)
            touched[target.id] = target
        elif _absorb(target, p, max_event_ids):
            touched[target.id] = target
    return list(touched.values())
