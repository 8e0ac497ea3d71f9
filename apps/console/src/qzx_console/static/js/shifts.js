// The shift planner: a staggered plan for a jurisdiction from its demand (alert history unless
// given), drawn as demand against coverage per hour; applied as rosters by a commander
// (org:write; a dispatcher may plan but is not offered Apply).

import { api, claims } from "./api.js";
import { dateTime, errorBox, fill, h, num } from "./dom.js";
import { t } from "./i18n.js";
import { may } from "./actions.js";
import { axis, chart, valueAxis } from "./charts.js";
import { table } from "./table.js";
import { pageFrame } from "./views.js";

export function render(box) {
  const body = pageFrame(box, "排班规划 Shift planner");
  const result = h("div", { class: "plan" });
  const jur = claims()?.jur || "37";
  const form = h("form", { class: "inline-form", "data-action": "plan" },
    h("label", {}, t("辖区 area"), " ", h("input", { name: "admin_code", value: jur.length >= 6 ? jur : `${jur.padEnd(4, "0").slice(0, 4)}00`, pattern: "37\\d{4}(\\d{1,6})?", size: 8, required: true })),
    h("label", {}, t("开始 start"), " ", h("input", { name: "start_date", type: "date" })),
    h("label", {}, t("时长 hours"), " ", h("input", { name: "hours", type: "number", min: 1, max: 336, value: 48, size: 4 })),
    h("label", {}, t("班长 shift hours"), " ", h("input", { name: "shift_hours", type: "number", min: 2, max: 16, value: 8, size: 3 })),
    h("button", { type: "submit" }, t("生成方案 Plan")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = form.elements;
    const request = { admin_code: f.admin_code.value.trim(), hours: Number(f.hours.value), shift_hours: Number(f.shift_hours.value) };
    if (f.start_date.value) request.start_date = f.start_date.value;
    fill(result, h("p", { class: "empty" }, t("求解中 solving…")));
    try {
      showPlan(result, await api("dispatch", "/v1/shift-plans", { method: "POST", body: request }));
    } catch (err) {
      fill(result, errorBox(err, "POST /v1/shift-plans"));
    }
  });
  fill(body, form, result);
}

async function showPlan(box, plan) {
  const hours = plan.coverage.map((c) => { const d = new Date(c.at); return `${d.getMonth() + 1}/${d.getDate()} ${String(d.getHours()).padStart(2, "0")}h`; });
  const applied = h("div", {});
  const canApply = await may("org:write");
  fill(box,
    h("div", { class: "kpis" },
      kpi(t("单元工时 unit-hours"), plan.unit_hours),
      kpi(t("缺口工时 shortfall"), plan.shortfall_unit_hours),
      kpi(t("未覆盖小时 uncovered hours"), plan.uncovered_hours.length),
      kpi(t("需求来源 demand from"), plan.demand_source),
      kpi(t("求解 solve"), `${num(plan.solve_ms, 0)} ms`),
      kpi(t("状态 status"), plan.status)),
    chart({
      tooltip: { trigger: "axis" },
      xAxis: axis(hours),
      yAxis: valueAxis({ name: t("警力 units") }),
      series: [
        { name: t("需求 demand"), type: "bar", data: plan.coverage.map((c) => c.demand), itemStyle: { color: "#ff9a2e" } },
        { name: t("覆盖 coverage"), type: "line", step: "end", data: plan.coverage.map((c) => c.covered), lineStyle: { width: 2 }, itemStyle: { color: "#3ddc84" } },
      ],
    }, { height: 300 }),
    h("h4", {}, t("班次 Shift starts")),
    table([
      { label: "开始 Start", cell: (s) => dateTime(s.at) },
      { label: "警力 Units", class: "mono", cell: (s) => s.units },
    ], plan.starts, { empty: "无班次 no starts" }),
    canApply && !plan.applied_at
      ? h("button", { "data-action": "apply-plan", onclick: (e) => apply(plan, applied, e.target) }, t("应用为排班 Apply as roster"))
      : plan.applied_at ? h("p", { class: "muted" }, `${t("已应用 applied")} ${dateTime(plan.applied_at)}`) : null,
    applied);
}

async function apply(plan, box, button) {
  button.disabled = true;
  try {
    const r = await api("dispatch", `/v1/shift-plans/${encodeURIComponent(plan.id)}/apply`, { method: "POST" });
    fill(box, h("p", { class: "ok" }, t({ zh: `已生成 ${r.rosters_created} 条排班`, en: `${r.rosters_created} rosters created` }),
      r.unfilled.length ? h("span", { class: "warn" }, t({ zh: ` · ${r.unfilled.length} 个班次无人可排`, en: ` · ${r.unfilled.length} starts unfilled` })) : null));
  } catch (err) {
    button.disabled = false;
    fill(box, errorBox(err, "POST /v1/shift-plans/…/apply"));
  }
}

export function kpi(label, value) {
  return h("div", { class: "kpi" }, h("b", {}, value ?? "—"), h("span", {}, label));
}
