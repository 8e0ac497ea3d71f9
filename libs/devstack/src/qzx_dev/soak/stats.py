"""The soak's figures, pure: what one minute collected, its percentile table, and the RSS slope."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from qzx_dev.bench.dispatch_stack import pct

QUANTILES = (50, 95, 99)
MIB = 2**20


@dataclass
class Window:
    """What the load and the clients recorded since the last minute mark (the driver swaps it)."""

    sent: int = 0
    send_errors: int = 0
    client_errors: int = 0
    polls: int = 0
    actions: int = 0  # officers' signs and feedback accepted
    conflicts: int = 0  # actions refused because the task moved on meanwhile (reassigned, say)
    sse_events: int = 0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    error_kinds: dict[str, int] = field(default_factory=dict)  # "long-poll 503", "SSE ReadTimeout"...

    def latency(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)

    def client_error(self, kind: str) -> None:
        self.client_errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


@dataclass(frozen=True)
class Minute:
    index: int  # 1-based
    sent: int
    send_errors: int
    client_errors: int
    error_kinds: dict[str, int]
    polls: int
    actions: int
    conflicts: int
    sse_events: int
    latency: dict[str, tuple[float, ...]]  # kind -> (p50, p95, p99) in seconds
    rss_mib: dict[str, float]  # process -> mean RSS over the minute
    cpu_pct: dict[str, float] = field(default_factory=dict)  # process -> CPU share (100: one core)

    @property
    def errors(self) -> int:
        return self.send_errors + self.client_errors


def percentiles(values: Sequence[float]) -> tuple[float, ...]:
    """(p50, p95, p99) by nearest rank, as the benchmarks report them; NaN when empty."""
    return tuple(pct(list(values), q) for q in QUANTILES)


def close_minute(
    index: int, w: Window, rss: dict[str, list[float]], cpu: dict[str, float] | None = None
) -> Minute:
    return Minute(
        index=index,
        sent=w.sent,
        send_errors=w.send_errors,
        client_errors=w.client_errors,
        error_kinds=dict(w.error_kinds),
        polls=w.polls,
        actions=w.actions,
        conflicts=w.conflicts,
        sse_events=w.sse_events,
        latency={kind: percentiles(v) for kind, v in sorted(w.latencies.items())},
        rss_mib={name: sum(v) / len(v) for name, v in rss.items() if v},
        cpu_pct=cpu or {},
    )


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points; NaN with fewer than two distinct x."""
    if len(points) < 2:
        return math.nan
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return math.nan
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def rss_slopes(samples: dict[str, list[tuple[float, float]]], *, warmup_min: float) -> dict[str, float]:
    """MiB per minute per process over the samples (minute, MiB) taken after the warm-up."""
    return {name: slope([p for p in pts if p[0] >= warmup_min]) for name, pts in samples.items()}


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.0f}"


def latency_table(minutes: Sequence[Minute]) -> str:
    """One row per minute and latency kind: p50/p95/p99 in milliseconds."""
    kinds = sorted({k for m in minutes for k in m.latency})
    rows = [f"{'min':>3}  {'latency':<22} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"]
    for m in minutes:
        for k in kinds:
            p = m.latency.get(k, (math.nan,) * len(QUANTILES))
            rows.append(f"{m.index:>3}  {k:<22} " + " ".join(f"{_ms(v):>8}" for v in p))
    return "\n".join(rows)


def render_minute(m: Minute) -> str:
    lat = "  ".join(f"{k} " + "/".join(_ms(v) for v in p) + " ms" for k, p in m.latency.items())
    rss = "  ".join(f"{name} {mib:.0f}" for name, mib in m.rss_mib.items())
    cpu = "  ".join(f"{name} {pct:.0f}" for name, pct in m.cpu_pct.items())
    return (
        f"minute {m.index}: sent {m.sent:,}  errors {m.errors} (send {m.send_errors}, clients "
        f"{m.client_errors})  polls {m.polls:,}  actions {m.actions:,} (conflicts {m.conflicts:,})  "
        f"sse events {m.sse_events:,}\n"
        f"  latency p50/p95/p99: {lat or '-'}\n  RSS MiB: {rss}\n  CPU %: {cpu or '-'}"
        + (f"\n  errors: {render_kinds(m.error_kinds)}" if m.error_kinds else "")
    )


def render_kinds(kinds: dict[str, int]) -> str:
    return ", ".join(f"{kind} × {n:,}" for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1]))


def render_slopes(slopes: dict[str, float], *, warmup_min: float) -> str:
    parts = [f"{n} {'-' if math.isnan(s) else f'{s:+.2f}'}" for n, s in slopes.items()]
    return f"RSS slope after {warmup_min:g} min warm-up (MiB/min): " + "  ".join(parts)
