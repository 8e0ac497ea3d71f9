"""One row per fault kind: what was injected, how often, and what it cost."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Outcome:
    fault: str
    injections: int
    in_flight: int  # events sent from the first injection until the service was ready again
    lost: int
    duplicated: int
    ready_s: float  # longest time from the fault's end to every service ready


OUTCOMES: list[Outcome] = []

HEADER = ("fault", "injections", "events in flight", "lost", "duplicated", "time to ready (max)")


def render() -> str:
    rows = [HEADER] + [
        (o.fault, str(o.injections), str(o.in_flight), str(o.lost), str(o.duplicated), f"{o.ready_s:.1f} s")
        for o in OUTCOMES
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return "\n".join(lines)
