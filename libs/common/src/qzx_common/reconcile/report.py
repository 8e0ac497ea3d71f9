"""What reconciliation found: counts (facts), and discrepancies, each with its first few ids."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

SAMPLE = 5  # ids shown per discrepancy


@dataclass(slots=True)
class Discrepancy:
    kind: str  # one of KINDS
    what: str  # the detail (a schema, a group, a check within the kind)
    count: int
    sample: list[str]


# Every kind of discrepancy, and what it means.
KINDS = {
    "unaccounted": "on the camera topic, neither stored nor dead-lettered",
    "stored_twice": "stored (or scored, or tasked) more than once",
    "not_forwarded": "stored by ingest, never on violations.accepted.v1 nor waiting in the outbox",
    "not_scored": "on violations.accepted.v1, neither a sighting in alerts nor dead-lettered there",
    "dlq_missing": "a consumer's dead letter that is not on its .dlq topic nor waiting in the outbox",
    "priority_unhandled": "a new P1/P2 alert without a task and without a recorded reason",
    "task_disagrees": "a task whose alert (in alerts) disagrees with its state",
    "backlog": "not yet published or consumed: outbox rows, unrelayed changes, consumer lag",
}


@dataclass
class Report:
    counts: dict[str, int] = field(default_factory=dict)
    discrepancies: list[Discrepancy] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.discrepancies

    def add(self, kind: str, what: str, ids: Iterable[Any], count: int | None = None) -> None:
        """Record a discrepancy when ``ids`` (or ``count``) is not empty."""
        assert kind in KINDS, kind
        listed = [str(i) for i in ids]
        total = len(listed) if count is None else count
        if total:
            self.discrepancies.append(Discrepancy(kind, what, total, sorted(listed)[:SAMPLE]))

    def of(self, kind: str) -> list[Discrepancy]:
        return [d for d in self.discrepancies if d.kind == kind]

    def render(self) -> str:
        width = max(map(len, self.counts), default=0)
        lines = ["counts:"] + [f"  {k:<{width}}  {v:>10,}" for k, v in self.counts.items()]
        if self.clean:
            return "\n".join([*lines, "reconcile: clean (no discrepancy)"])
        lines.append(f"discrepancies ({len(self.discrepancies)}):")
        for d in self.discrepancies:
            lines.append(f"  {d.kind} [{d.what}]: {d.count:,} — {KINDS[d.kind]}")
            lines.append(f"      first: {', '.join(d.sample)}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "counts": self.counts,
            "discrepancies": [
                {"kind": d.kind, "what": d.what, "count": d.count, "sample": d.sample}
                for d in self.discrepancies
            ],
        }
