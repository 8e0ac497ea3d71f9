"""PNG charts for the monthly analysis (matplotlib's Agg backend: no display, thread-safe enough
when each call builds its own Figure)."""

from __future__ import annotations

import io
from typing import Any


def monthly_png(report: dict[str, Any]) -> bytes:
    # Imported here, not at module level: matplotlib costs over a second of CPU that every alerts
    # process would pay at start-up for a chart drawn a few times a month.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 12), dpi=90)
    title = f"qzx monthly analysis {report['from']:%Y-%m} · jurisdiction {report['admin_code']}"
    fig.suptitle(title)
    (daily, hourly), (violations, loop), (accidents, league) = fig.subplots(3, 2)

    days = report["events"]["by_day"]
    daily.bar([d[-2:] for d in days], list(days.values()), color="#3b6ea5")
    daily.set_title("Violations per day")

    hourly.bar(range(24), report["events"]["by_hour"], color="#c0504d")
    hourly.set_title("Violations by hour (local)")
    hourly.set_xticks(range(0, 24, 3))

    by_violation = report["events"]["by_violation"]
    violations.barh(list(by_violation), list(by_violation.values()), color="#9bbb59")
    violations.set_title("Violations by kind")

    a, prev = report["alerts"], report["trend"]["previous"]["alerts"]
    labels = ["raised", "dispatched", "signed", "feedback", "handled"]
    x = range(len(labels))
    loop.bar(
        [i - 0.2 for i in x], [prev[k] for k in labels], width=0.4, label="previous month", color="#bbbbbb"
    )
    loop.bar([i + 0.2 for i in x], [a[k] for k in labels], width=0.4, label="this month", color="#4f81bd")
    loop.set_xticks(list(x), labels)
    rate = a["road_management_rate"]
    loop.set_title(f"Command loop (road management rate {rate:.0%})" if rate is not None else "Command loop")
    loop.legend()

    _accidents(accidents, report["accidents"])
    _league(league, report["league"])

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _accidents(ax: Any, acc: dict[str, Any]) -> None:
    """This period against the same period last year (the three declines and major accidents)."""
    labels = ["accidents", "injured", "killed", "major"]
    now = [acc["total"], acc["injured"], acc["killed"], acc["major"]]
    last = [acc["last_year"][k] for k in labels]
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], last, width=0.4, label="same period last year", color="#bbbbbb")
    ax.bar([i + 0.2 for i in x], now, width=0.4, label="this period", color="#c0504d")
    ax.set_xticks(list(x), labels)
    verdict = "three declines met" if acc["three_declines"]["all"] else "three declines not met"
    ax.set_title(f"Accidents year on year ({verdict})")
    ax.legend()


def _league(ax: Any, table: dict[str, Any]) -> None:
    rows = table["items"][::-1]  # the best at the top
    ax.barh([r["name"] for r in rows], [r["assessment"]["score"] for r in rows], color="#4f81bd")
    ax.set_xlim(0, 100)
    ax.set_title(f"Assessment score by {table['level']} (league table)")
