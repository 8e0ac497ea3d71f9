"""A scored batch whose transaction has not committed yet, as the next batch's history lookups must
see it. The consumer scores batch N+1 on a second connection while batch N writes its alerts
(scoring.pipeline), and no commit lands while lookups run, so each lookup adds exactly these to
what it reads: the same answers as if batch N had committed first."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from operator import attrgetter

from qzx_alerts.history.repository import SAME_PLATE_LIMIT, SAME_SEGMENT_LIMIT
from qzx_alerts.scoring.correlation import Learned, Pair, Seen
from qzx_alerts.scoring.domain import Sighting


@dataclass(slots=True)
class Pending:
    event_ids: set[str]
    by_plate: dict[str, list[Sighting]] = field(default_factory=lambda: defaultdict(list))
    by_group: dict[str, list[Sighting]] = field(default_factory=lambda: defaultdict(list))
    learned: dict[Pair, Learned] = field(default_factory=dict)  # as learn_passages will store them

    @classmethod
    def of(cls, fresh: Sequence[Sighting], passages: Sequence[tuple[Pair, float]]) -> Pending:
        p = cls({s.event_id for s in fresh})
        for s in fresh:
            if s.plate:
                p.by_plate[s.plate].append(s)
            if s.group_key:
                p.by_group[s.group_key].append(s)
        for pair, seconds in passages:
            fastest, n = p.learned.get(pair, (seconds, 0))
            p.learned[pair] = (min(fastest, seconds), n + 1)
        return p


_seen_values = attrgetter(*(f for f in Seen.__dataclass_fields__))


def _seen(s: Sighting) -> Seen:
    return Seen(*_seen_values(s))


def add_prior_counts(
    priors: dict[str, int], fresh: Sequence[Sighting], p: Pending, *, window_days: int
) -> None:
    """``history.look_back``: earlier sightings of the plate within the window."""
    window = timedelta(days=window_days)
    for s in fresh:
        if s.plate and (mine := p.by_plate.get(s.plate)):
            n = sum(1 for o in mine if s.captured_at - window <= o.captured_at < s.captured_at)
            if n:
                priors[s.event_id] = priors.get(s.event_id, 0) + n


def add_same_plate(
    found: dict[str, list[Seen]], fresh: Sequence[Sighting], p: Pending, *, window_s: int
) -> None:
    """``history.look_back``: the plate's other sightings within ±window, latest first."""
    _add_near(
        found, fresh, lambda s: p.by_plate.get(s.plate or ""), window_s, SAME_PLATE_LIMIT, latest_first=True
    )


def add_same_segment(
    found: dict[str, list[Seen]], fresh: Sequence[Sighting], p: Pending, *, window_s: int
) -> None:
    """``history.look_back``: racing-class sightings on the segment within ±window, earliest
    first."""
    _add_near(
        found,
        fresh,
        lambda s: p.by_group.get(s.group_key or ""),
        window_s,
        SAME_SEGMENT_LIMIT,
        latest_first=False,
    )


def _add_near(
    found: dict[str, list[Seen]],
    fresh: Sequence[Sighting],
    pending_of: Callable[[Sighting], list[Sighting] | None],
    window_s: int,
    limit: int,
    *,
    latest_first: bool,
) -> None:
    """Add the pending sightings within ±window of each new one to what the lookup found, in the
    lookup's order and within its limit."""
    window = timedelta(seconds=window_s)
    for s in fresh:
        near = [_seen(o) for o in pending_of(s) or () if abs(o.captured_at - s.captured_at) <= window]
        if near:
            both = found.get(s.event_id, []) + near
            both.sort(key=lambda o: o.captured_at, reverse=latest_first)
            found[s.event_id] = both[:limit]


def add_learned(learned: dict[Pair, Learned], pairs: set[Pair], p: Pending) -> None:
    """``history.learned_travel`` after the pending batch's passages are learnt."""
    for pair in pairs & p.learned.keys():
        fastest, n = p.learned[pair]
        if (stored := learned.get(pair)) is not None:
            fastest, n = min(fastest, stored[0]), n + stored[1]
        learned[pair] = (fastest, n)
