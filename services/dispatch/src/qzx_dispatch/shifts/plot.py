"""The plan as a PNG: demand against coverage per hour, and units per start."""

from __future__ import annotations

import io
from typing import Any


def render(result: dict[str, Any], *, title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = [c["hour"] for c in result["coverage"]]
    demand = [c["demand"] for c in result["coverage"]]
    covered = [c["covered"] for c in result["coverage"]]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 6), sharex=True, height_ratios=[3, 1])
    try:
        _layers(top, result["coverage"], hours)
        top.step(hours, demand, where="post", label="demand (units)", color="tab:red")
        top.step(hours, covered, where="post", label="on duty (units)", color="tab:blue")
        short = [h for h, d, c in zip(hours, demand, covered, strict=True) if c < d]
        if short:
            top.scatter(
                short, [demand[h - hours[0]] for h in short], color="black", marker="x", label="uncovered"
            )
        top.set_ylabel("units")
        top.set_title(title)
        top.legend(loc="upper right")
        top.grid(alpha=0.3)
        starts = result["starts"]
        bottom.bar([s["hour"] for s in starts], [s["units"] for s in starts], width=0.8, color="tab:green")
        bottom.set_ylabel("starts")
        bottom.set_xlabel("hour of plan")
        bottom.grid(alpha=0.3)
        for day in range(0, len(hours) + 1, 24):
            top.axvline(day, color="grey", lw=0.5)
            bottom.axvline(day, color="grey", lw=0.5)
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=90)
        return buf.getvalue()
    finally:
        plt.close(fig)


def _layers(ax: Any, coverage: list[dict[str, Any]], hours: list[int]) -> None:
    """The history-based demand's two layers, stacked: violation load under accident risk."""
    if coverage and coverage[0].get("violations") is not None:
        violations = [c["violations"] for c in coverage]
        accidents = [c["accidents"] for c in coverage]
        ax.stackplot(
            hours,
            violations,
            accidents,
            step="post",
            labels=["violation load", "accident risk"],
            colors=["#f2c38f", "#e89aa0"],
            alpha=0.7,
        )
