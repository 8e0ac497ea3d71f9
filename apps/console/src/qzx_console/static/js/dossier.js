// A plate's dossier: every violation (ingest), alert (alerts), task (dispatch, per alert) and
// hotlist entry (alerts, expired ones too) of one plate, within the caller's jurisdiction.

import { api, emit } from "./api.js";
import { dateTime, errorBox, fill, h } from "./dom.js";
import { t } from "./i18n.js";
import { ALERT_STATUS, OUTCOMES, TASK_STATUS, VIOLATIONS, cityName, short } from "./labels.js";
import { measurements } from "./detail.js";
import { table } from "./table.js";
import { pageFrame } from "./views.js";

const LIMIT = 200;
const MAX_TASK_LOOKUPS = 50;

export function render(box, params) {
  const input = h("input", { name: "plate", placeholder: t("号牌 plate, e.g. 鲁A12345"), value: params.get("plate") || "", required: true, size: 14 });
  const form = h("form", { class: "inline-form", "data-action": "dossier" }, input, h("button", { type: "submit" }, t("查询 Look up")));
  const result = h("div", {});
  fill(pageFrame(box, "号牌档案 Plate dossier"), form, result);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const plate = input.value.trim().toUpperCase();
    if (plate) history.replaceState(null, "", `#/dossier?plate=${encodeURIComponent(plate)}`);
    lookUp(plate, result);
  });
  if (input.value) lookUp(input.value.trim().toUpperCase(), result);
}

async function lookUp(plate, box) {
  fill(box, h("p", { class: "empty" }, t("查询中 searching…")));
  const [violations, alerts, hotlists] = await Promise.allSettled([
    api("ingest", "/v1/violations", { query: { plate, limit: LIMIT } }),
    api("alerts", "/v1/alerts", { query: { plate, limit: LIMIT } }),
    api("alerts", "/v1/hotlists", { query: { plate, active: "false", limit: LIMIT } }),
  ]);
  const alertItems = alerts.status === "fulfilled" ? alerts.value.items : [];
  const tasks = await Promise.allSettled(alertItems.slice(0, MAX_TASK_LOOKUPS).map((a) =>
    api("dispatch", "/v1/tasks", { query: { alert_id: a.id, limit: 20 } })));
  const taskItems = tasks.flatMap((p) => (p.status === "fulfilled" ? p.value.items : []));
  taskItems.sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
  const part = (title, settled, draw, what) => h("section", { class: "dossier-part" },
    h("h4", {}, t(title), settled.status === "fulfilled" ? h("small", {}, ` (${itemsOf(settled).length}${settled.value.next_cursor ? "+" : ""})`) : null),
    settled.status === "fulfilled" ? draw(itemsOf(settled)) : errorBox(settled.reason, what));
  fill(box,
    h("h3", { class: "plate big" }, plate),
    part("布控 Hotlist entries", hotlists, (items) => table(HOTLIST, items, { empty: "未布控 not on any hotlist" }), "GET /v1/hotlists"),
    part("告警 Alerts", alerts, (items) => table(ALERTS, items, { empty: "无告警 no alerts" }), "GET /v1/alerts"),
    part("任务 Tasks", { status: "fulfilled", value: { items: taskItems } }, (items) => table(TASKS, items, { empty: "无任务 no tasks" }), "GET /v1/tasks"),
    part("违法记录 Violations", violations, (items) => table(VIOLATION_COLUMNS, items, { empty: "无违法 no violations" }), "GET /v1/violations"));
}

const itemsOf = (settled) => settled.value.items || [];
const openAlert = (id) => h("a", { href: `#alert=${encodeURIComponent(id)}`, onclick: () => setTimeout(() => emit("select", id)) }, id.slice(0, 8));

const HOTLIST = [
  { label: "级别 Priority", cell: (r) => h("span", { class: `badge ${r.priority.toLowerCase()}` }, r.priority) },
  { label: "类型 Kind", cell: (r) => (r.covert ? h("span", { class: "badge covert" }, t("秘密 covert")) : t("公开 open")) },
  { label: "事由 Reason", cell: (r) => r.reason ?? "—" },
  { label: "辖区 Area", cell: (r) => cityName(r.admin_code) },
  { label: "到期 Expires", cell: (r) => (r.expires_at ? dateTime(r.expires_at) : t("长期 no expiry")) },
  { label: "状态 Status", cell: (r) => (r.active ? t("生效 active") : t("失效 inactive")) },
];
const ALERTS = [
  { label: "告警 Alert", class: "mono", cell: (r) => openAlert(r.id) },
  { label: "级别 Priority", cell: (r) => h("span", { class: `badge ${r.priority.toLowerCase()}` }, r.priority) },
  { label: "分 Score", class: "mono", cell: (r) => Math.round(r.score) },
  { label: "违法 Violations", cell: (r) => (r.violations || []).map((v) => short(VIOLATIONS, v)).join(", ") },
  { label: "状态 Status", cell: (r) => short(ALERT_STATUS, r.status) },
  { label: "城市 City", cell: (r) => cityName(r.admin_code) },
  { label: "首次 First", cell: (r) => dateTime(r.first_seen) },
];
const TASKS = [
  { label: "任务 Task", class: "mono", cell: (r) => r.id.slice(0, 8) },
  { label: "告警 Alert", class: "mono", cell: (r) => openAlert(r.alert_id) },
  { label: "警力 Unit", class: "mono", cell: (r) => r.unit_id },
  { label: "状态 Status", cell: (r) => short(TASK_STATUS, r.status) },
  { label: "反馈 Outcome", cell: (r) => (r.outcome ? short(OUTCOMES, r.outcome) : "—") },
  { label: "创建 Created", cell: (r) => dateTime(r.created_at) },
];
const VIOLATION_COLUMNS = [
  { label: "时间 Time", cell: (r) => dateTime(r.captured_at) },
  { label: "违法 Violation", cell: (r) => short(VIOLATIONS, r.violation) },
  { label: "测量 Measured", cell: (r) => measurements(r.measurements || {}) },
  { label: "设备 Device", class: "mono", cell: (r) => r.device_id },
  { label: "城市 City", cell: (r) => cityName(r.location?.admin_code) },
];
