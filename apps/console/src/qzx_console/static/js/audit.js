// The audit search (auditors and province commanders, audit:read): every service's append-only
// audit log (GET /v1/audit on ingest, alerts and dispatch), filtered by person, action, target
// and time, merged newest first.

import { api } from "./api.js";
import { dateTime, errorBox, fill, h } from "./dom.js";
import { t } from "./i18n.js";
import { csv, download, table } from "./table.js";
import { pageFrame } from "./views.js";

const SERVICES = ["ingest", "alerts", "dispatch"];
const LIMIT = 100;

export function render(box, params) {
  const f = (name, label, attrs = {}) => h("input", { name, placeholder: t(label), value: params.get(name) || "", ...attrs });
  let shown = [];
  const form = h("form", { class: "inline-form", "data-action": "audit-search" },
    f("actor", "人员 person (sub)", { size: 16 }), f("action", "动作 action", { size: 14 }),
    f("target_type", "对象类型 target type", { size: 10 }), f("target_id", "对象 target id", { size: 20 }),
    h("label", { class: "small" }, t("自 since"), " ", h("input", { name: "since", type: "datetime-local" })),
    h("label", { class: "small" }, t("至 until"), " ", h("input", { name: "until", type: "datetime-local" })),
    h("button", { type: "submit" }, t("查询 Search")),
    h("button", { type: "button", class: "ghost", onclick: () => exportCsv(shown) }, t({ zh: "导出 CSV", en: "Export CSV" })));
  const result = h("div", {});
  const body = pageFrame(box, "审计查询 Audit search");
  fill(body, form, result);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    shown = await search(form, result);
  });
  search(form, result).then((rows) => { shown = rows; });
}

async function search(form, box) {
  const query = { limit: LIMIT };
  for (const name of ["actor", "action", "target_type", "target_id"]) query[name] = form.elements[name].value.trim();
  for (const name of ["since", "until"]) if (form.elements[name].value) query[name] = new Date(form.elements[name].value).toISOString();
  fill(box, h("p", { class: "empty" }, t("查询中 searching…")));
  const pages = await Promise.allSettled(SERVICES.map((s) => api(s, "/v1/audit", { query })));
  const rows = [];
  const problems = [];
  pages.forEach((p, i) => {
    if (p.status === "fulfilled") rows.push(...p.value.items.map((r) => ({ ...r, service: SERVICES[i], more: Boolean(p.value.next_cursor) })));
    else problems.push(errorBox(p.reason, `${SERVICES[i]} GET /v1/audit`));
  });
  rows.sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
  const truncated = pages.some((p) => p.status === "fulfilled" && p.value.next_cursor);
  fill(box, problems,
    h("p", { class: "muted small" }, t({ zh: `${rows.length} 条${truncated ? `（每个服务最新 ${LIMIT} 条）` : ""}`, en: `${rows.length} entries${truncated ? ` (newest ${LIMIT} per service)` : ""}` })),
    table(COLUMNS, rows, { empty: "无审计记录 no audit entries" }));
  return rows;
}

const brief = (v) => (v === null || v === undefined ? "" : JSON.stringify(v).slice(0, 160));
const COLUMNS = [
  { label: "时间 Time", class: "mono", cell: (r) => dateTime(r.at) },
  { label: "服务 Service", cell: (r) => r.service },
  { label: "人员 Person", class: "mono", cell: (r) => h("a", { href: `#/audit?actor=${encodeURIComponent(r.actor)}` }, r.actor) },
  { label: "角色 Role", cell: (r) => r.role || "—" },
  { label: "动作 Action", class: "mono", cell: (r) => r.action },
  { label: "对象 Target", class: "mono", cell: (r) => `${r.target_type} ${r.target_id}` },
  { label: "辖区 Area", class: "mono", cell: (r) => r.admin_code || r.jur || "—" },
  { label: "变更 Change", class: "small", cell: (r) => h("span", { title: JSON.stringify({ before: r.before, after: r.after }) }, brief(r.after ?? r.before)) },
  { label: "来源 From", class: "mono small", cell: (r) => `${r.client_addr || ""} ${r.request_id ? r.request_id.slice(0, 8) : ""}` },
];

function exportCsv(rows) {
  const head = ["at", "service", "actor", "role", "unit_id", "jur", "action", "target_type", "target_id", "admin_code", "before", "after", "request_id", "client_addr"];
  download("qzx-audit.csv", csv([head, ...rows.map((r) => head.map((k) => r[k]))]));
}
