"""The soak's PNG plots: throughput, latency percentiles and RSS per minute."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qzx_dev.soak.stats import QUANTILES, Minute


def write_plots(
    minutes: Sequence[Minute], rss_series: dict[str, list[tuple[float, float]]], out: Path
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    xs = [m.index for m in minutes]
    written = []

    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(xs, [m.sent / 60 for m in minutes], marker="o", label="camera events sent /s")
    ax.plot(xs, [m.polls / 60 for m in minutes], marker="o", label="long-polls answered /s")
    ax.plot(xs, [m.sse_events / 60 for m in minutes], marker="o", label="SSE events received /s")
    ax.plot(xs, [m.errors / 60 for m in minutes], marker="x", label="errors /s")
    ax.set(xlabel="minute", ylabel="per second (minute mean)", title="soak: throughput")
    ax.legend()
    ax.grid(alpha=0.3)
    written.append(_save(fig, out / "soak-throughput.png"))

    kinds = sorted({k for m in minutes for k in m.latency})
    fig, axes = plt.subplots(1, max(len(kinds), 1), figsize=(6 * max(len(kinds), 1), 4), squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=False):
        for i, q in enumerate(QUANTILES):
            ys = [m.latency[kind][i] * 1000 if kind in m.latency else float("nan") for m in minutes]
            ax.plot(xs, ys, marker="o", label=f"p{q}")
        ax.set(xlabel="minute", ylabel="ms", title=f"soak: {kind}")
        ax.legend()
        ax.grid(alpha=0.3)
    written.append(_save(fig, out / "soak-latency.png"))

    fig, ax = plt.subplots(figsize=(8, 4))
    for name, pts in rss_series.items():
        ax.plot([x for x, _ in pts], [y for _, y in pts], label=name)
    ax.set(xlabel="minute", ylabel="RSS MiB (with children)", title="soak: RSS per process")
    ax.legend()
    ax.grid(alpha=0.3)
    written.append(_save(fig, out / "soak-rss.png"))
    return written


def _save(fig: object, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()  # type: ignore[attr-defined]
    fig.savefig(path, dpi=90)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return path
