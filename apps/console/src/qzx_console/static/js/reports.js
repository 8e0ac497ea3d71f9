// Reports for the daily watch, weekly scheduling and monthly analysis (GET /v1/reports/{period}):
// the command loop's figures, charts of when, what and where, hotspots and repeat offenders, and
// CSV export of every table behind the charts.

import { api, claims } from "./api.js";
import { errorBox, fill, h, num } from "./dom.js";
import { t } from "./i18n.js";
import { VIOLATIONS, cities, cityName, short } from "./labels.js";
import { axis, chart, valueAxis } from "./charts.js";
import { kpi } from "./shifts.js";
import { csv, download, table } from "./table.js";
import { pageFrame } from "./views.js";

const PERIODS = { daily: "日报 Daily watch", weekly: "周报 Weekly scheduling", monthly: "月报 Monthly analysis" };

export function render(box) {
  const period = h("select", { name: "period" }, Object.entries(PERIODS).map(([k, v]) => h("option", { value: k }, t(v))));
  const day = h("input", { type: "date", name: "date", title: t("默认今天（北京时间） default: today (UTC+8)") });
  const area = h("select", { name: "admin_code" }, areaOptions());
  const exportButton = h("button", { class: "ghost", "data-action": "export-csv" }, t({ zh: "导出 CSV", en: "Export CSV" }));
  const body = pageFrame(box, "统计报表 Reports", period, day, area, exportButton);
  let report = null;
  const reload = async () => {
    fill(body, h("p", { class: "empty" }, t("加载中 loading…")));
    try {
      report = await api("alerts", `/v1/reports/${period.value}`, { query: { date: day.value, admin_code: area.value } });
      fill(body, draw(report));
    } catch (err) {
      report = null;
      fill(body, errorBox(err, `GET /v1/reports/${period.value}`));
    }
  };
  for (const el of [period, day, area]) el.addEventListener("change", reload);
  exportButton.addEventListener("click", () => report && download(`qzx-${report.period}-${report.admin_code}-${report.from.slice(0, 10)}.csv`, reportCsv(report)));
  reload();
}

function areaOptions() {
  const jur = claims()?.jur || "37";
  const own = h("option", { value: "" }, t("本辖区 my jurisdiction"));
  if (jur.length > 2) return [own];
  return [own, ...cities.list.map((c) => h("option", { value: c.code.slice(0, 4) }, t(`${c.name_zh} ${c.name}`)))];
}

const pct = (v) => (v === null || v === undefined ? "—" : `${num(v * 100, 1)}%`);
const mins = (s) => (s === null || s === undefined ? "—" : `${num(s / 60, 1)} min`);
const change = (v) => (v === null || v === undefined ? "" : ` (${v >= 0 ? "+" : ""}${num(v, 1)}%)`);

function draw(r) {
  const e = r.events;
  const a = r.alerts;
  const byViolation = Object.entries(e.by_violation).sort((x, y) => y[1] - x[1]);
  const byCity = Object.entries(e.by_city).sort((x, y) => y[1] - x[1]);
  const byDay = Object.entries(e.by_day).sort();
  return h("div", { class: "report" },
    h("p", { class: "muted" }, `${r.from} — ${r.to} · ${cityName(r.admin_code)} (${r.admin_code})`),
    h("div", { class: "kpis" },
      kpi(t("违法 events") + change(r.trend?.events_change_pct), e.total),
      kpi(t("告警 alerts") + change(r.trend?.alerts_change_pct), a.raised),
      kpi(t("派警 dispatched"), a.dispatched),
      kpi(t("签收率 sign-for rate"), pct(a.sign_for_rate)),
      kpi(t("反馈率 feedback rate"), pct(a.feedback_rate)),
      kpi(t("路面管控率 road management"), pct(a.road_management_rate)),
      kpi(t("签收中位 median to sign"), mins(a.time_to_sign_s?.median)),
      kpi(t("办结中位 median to resolve"), mins(a.time_to_resolve_s?.median)),
      kpi(t("升级 escalated"), a.escalated),
      kpi(t("排除 dismissed"), a.dismissed)),
    h("div", { class: "charts" },
      chart({
        title: { text: t("分时段违法 Violations by hour"), textStyle: { color: "#d6e4ff", fontSize: 13 } },
        legend: { show: false }, xAxis: axis(e.by_hour.map((_, i) => `${i}`)), yAxis: valueAxis(),
        series: [{ type: "bar", name: t("违法 events"), data: e.by_hour }],
      }),
      chart({
        title: { text: t("违法类型 By violation"), textStyle: { color: "#d6e4ff", fontSize: 13 } },
        legend: { show: false }, tooltip: { trigger: "axis" }, grid: { left: 110, right: 16, top: 36, bottom: 24 },
        yAxis: axis(byViolation.map(([v]) => short(VIOLATIONS, v)), { inverse: true }), xAxis: valueAxis(),
        series: [{ type: "bar", name: t("违法 events"), data: byViolation.map(([, n]) => n), itemStyle: { color: "#ff9a2e" } }],
      }),
      byDay.length > 1 ? chart({
        title: { text: t("逐日趋势 By day"), textStyle: { color: "#d6e4ff", fontSize: 13 } },
        legend: { show: false }, xAxis: axis(byDay.map(([d]) => d)), yAxis: valueAxis(),
        series: [{ type: "line", name: t("违法 events"), data: byDay.map(([, n]) => n), areaStyle: { opacity: 0.15 } }],
      }) : null,
      byCity.length > 1 ? chart({
        title: { text: t("分城市 By city"), textStyle: { color: "#d6e4ff", fontSize: 13 } },
        legend: { show: false }, xAxis: axis(byCity.map(([c]) => cityName(c).split(" ")[0]), { axisLabel: { color: "#9fb4d8", interval: 0, rotate: 40 } }),
        yAxis: valueAxis(), series: [{ type: "bar", name: t("违法 events"), data: byCity.map(([, n]) => n), itemStyle: { color: "#3ddc84" } }],
      }) : null,
      Object.keys(a.by_priority).length ? chart({
        title: { text: t("告警级别 Alerts by priority"), textStyle: { color: "#d6e4ff", fontSize: 13 } },
        tooltip: { trigger: "item" }, legend: { show: false },
        series: [{ type: "pie", radius: ["35%", "65%"], label: { color: "#d6e4ff" },
          data: Object.entries(a.by_priority).sort().map(([p, n]) => ({ name: p, value: n, itemStyle: { color: { P1: "#ff4d5e", P2: "#ff9a2e", P3: "#f2d43a", P4: "#4aa8ff" }[p] } })) }],
      }) : null),
    h("div", { class: "two-col" },
      h("div", {}, h("h4", {}, t("热点设备 Hotspots")), table([
        { label: "设备 Device", class: "mono", cell: (x) => x.device_id },
        { label: "辖区 Area", cell: (x) => cityName(x.admin_code) },
        { label: "违法 Events", class: "mono", cell: (x) => x.count },
        { label: "主要违法 Top violation", cell: (x) => short(VIOLATIONS, x.top_violation) },
      ], r.hotspots)),
      h("div", {}, h("h4", {}, t("重点车辆 Repeat offenders")), table([
        { label: "号牌 Plate", class: "plate", cell: (x) => h("a", { href: `#/dossier?plate=${encodeURIComponent(x.plate)}` }, x.plate) },
        { label: "次数 Count", class: "mono", cell: (x) => x.count },
        { label: "违法 Violations", cell: (x) => (x.violations || []).map((v) => short(VIOLATIONS, v)).join(", ") },
      ], r.repeat_offenders))));
}

// One CSV with a section per table (figure, value), in the page language's labels plus the codes.
export function reportCsv(r) {
  const rows = [["section", "key", "value"]];
  rows.push(["period", r.period, `${r.from} — ${r.to}`], ["admin_code", r.admin_code, ""]);
  for (const [k, v] of Object.entries(r.alerts)) {
    if (typeof v === "object" && v !== null) for (const [k2, v2] of Object.entries(v)) rows.push([`alerts.${k}`, k2, v2]);
    else rows.push(["alerts", k, v]);
  }
  rows.push(["events", "total", r.events.total]);
  r.events.by_hour.forEach((n, hour) => rows.push(["events.by_hour", hour, n]));
  for (const key of ["by_violation", "by_day", "by_city"]) {
    for (const [k, v] of Object.entries(r.events[key])) rows.push([`events.${key}`, k, v]);
  }
  for (const x of r.hotspots) rows.push(["hotspots", x.device_id, x.count]);
  for (const x of r.repeat_offenders) rows.push(["repeat_offenders", x.plate, x.count]);
  return csv(rows);
}
