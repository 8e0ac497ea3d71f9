"""PNG charts for the monthly analysis (matplotlib's Agg backend: no display, thread-safe enough
when each call builds its own Figure)."""

from __future__ import annotations

import io
from typing import Any

from matplotlib.figure import Figure


def monthly_png(report: dict[str, Any]) -> bytes:
    fig = Figure(figsize=(12, 8), dpi=90)
    title = f"qzx monthly analysis {report['from']:%Y-%m} · jurisdiction {report['admin_code']}"
    fig.suptitle(title)
    (daily, hourly), (violations, loop) = fig.subplots(2, 2)

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

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
