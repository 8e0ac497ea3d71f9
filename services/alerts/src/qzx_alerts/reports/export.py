"""The league table as CSV (UTF-8 with a byte-order mark, so that spreadsheet programs read the
Chinese headers): one row per city or county in rank order, then the jurisdiction's total."""

from __future__ import annotations

import csv
import io
from typing import Any

# (key in a league row, header: Chinese first, then English)
COLUMNS = (
    ("rank", "排名 rank"),
    ("code", "区划代码 code"),
    ("name", "名称 name"),
    ("score", "考核得分 score"),
    ("safety", "安全形势 safety"),
    ("operations", "运行质量 operations"),
    ("accidents", "事故起数 accidents"),
    ("accidents_last_year", "去年同期起数 accidents last year"),
    ("injured", "受伤人数 injured"),
    ("injured_last_year", "去年同期受伤 injured last year"),
    ("killed", "死亡人数 killed"),
    ("killed_last_year", "去年同期死亡 killed last year"),
    ("major", "较大事故 major accidents"),
    ("three_declines", "三下降 three declines"),
    ("rural", "农村事故 rural accidents"),
    ("ebike", "电动车事故 e-bike accidents"),
    ("hazards_found", "隐患发现 hazards found"),
    ("hazards_rectified", "隐患整改 hazards rectified"),
    ("hazards_overdue", "隐患逾期 hazards overdue"),
    ("raised", "预警数 alerts raised"),
    ("handled", "处置数 alerts handled"),
    ("road_management_rate", "见警管事率 road management rate"),
)
_ASSESSMENT = {"score", "safety", "operations"}


def _cell(row: dict[str, Any], key: str) -> object:
    value = row["assessment"][key] if key in _ASSESSMENT else row.get(key, "")
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是 yes" if value else "否 no"
    return value


def league_csv(report: dict[str, Any]) -> str:
    buf = io.StringIO()
    buf.write("\ufeff")
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow([header for _, header in COLUMNS])
    for row in report["league"]["items"]:
        out.writerow([_cell(row, key) for key, _ in COLUMNS])
    total = report["league"]["total"]
    out.writerow(["合计 total", *(_cell(total, key) for key, _ in COLUMNS[1:])])
    return buf.getvalue()
