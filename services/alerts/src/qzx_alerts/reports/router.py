from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from qzx_alerts.alerts.router import scope
from qzx_alerts.deps import Connection, RulesDep
from qzx_alerts.reports.charts import monthly_png
from qzx_alerts.reports.export import league_csv
from qzx_alerts.reports.service import Period, build_report
from qzx_alerts.scoring.rules import Rules
from qzx_common.jurisdiction import ADMIN_PREFIX_PATTERN
from qzx_common.web.auth import Principal
from qzx_common.web.openapi import AUTHENTICATED
from qzx_common.web.permissions import Action, require

router = APIRouter(prefix="/v1/reports", tags=["reports"])

AdminCode = Annotated[
    str | None, Query(pattern=ADMIN_PREFIX_PATTERN, description="defaults to your jurisdiction")
]
Day = Annotated[date | None, Query(alias="date", description="a day inside the period (default: today)")]


def _day(rules: Rules, day: date | None) -> date:
    return day or datetime.now(rules.tz).date()


@router.get(
    "/monthly.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **AUTHENTICATED},
)
async def monthly_charts(
    principal: Annotated[Principal, require(Action.reports_read)],
    conn: Connection,
    rules: RulesDep,
    day: Day = None,
    admin_code: AdminCode = None,
) -> Response:
    """The monthly analysis as charts: violations per day, by hour and kind; the command loop."""
    report = await build_report(
        conn,
        period="monthly",
        day=_day(rules, day),
        prefix=scope(principal, admin_code),
        rules=rules,
    )
    png = await asyncio.to_thread(monthly_png, report)
    return Response(png, media_type="image/png")


@router.get(
    "/{period}.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **AUTHENTICATED},
)
async def league_table_csv(
    period: Period,
    principal: Annotated[Principal, require(Action.reports_read)],
    conn: Connection,
    rules: RulesDep,
    day: Day = None,
    admin_code: AdminCode = None,
) -> Response:
    """The period's league table (cities, or a city's counties) as CSV, ranked, with the total."""
    prefix = scope(principal, admin_code)
    report = await build_report(conn, period=period, day=_day(rules, day), prefix=prefix, rules=rules)
    name = f"qzx-{period}-{prefix}-{report['from']:%Y%m%d}.csv"
    return Response(
        league_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/{period}", responses=AUTHENTICATED)
async def report(
    period: Period,
    principal: Annotated[Principal, require(Action.reports_read)],
    conn: Connection,
    rules: RulesDep,
    day: Day = None,
    admin_code: AdminCode = None,
) -> dict[str, Any]:
    """Daily watch, weekly scheduling or monthly analysis for a jurisdiction (see the service's
    docstring for the definitions of every figure)."""
    return await build_report(
        conn,
        period=period,
        day=_day(rules, day),
        prefix=scope(principal, admin_code),
        rules=rules,
    )
