// Hotlists: the plates watched in the caller's jurisdiction, with their expiry. Covert entries
// arrive (with reason and source) only for commanders: the alerts service hides them from others.
// Commanders may add and remove entries (hotlists:write); others are not offered the form.

import { api } from "./api.js";
import { dateTime, errorBox, fill, h } from "./dom.js";
import { t } from "./i18n.js";
import { PRIORITIES, cityName } from "./labels.js";
import { may } from "./actions.js";
import { loading, table } from "./table.js";
import { pageFrame } from "./views.js";

export async function render(box) {
  const showExpired = h("input", { type: "checkbox", name: "expired" });
  const list = pageFrame(box, "布控名单 Hotlists", h("label", { class: "small" }, showExpired, ` ${t("含已过期 include expired")}`));
  const writable = await may("hotlists:write");
  const reload = () => loading(list,
    () => api("alerts", "/v1/hotlists", { query: { limit: 200, active: showExpired.checked ? "false" : "true" } }),
    (page) => table(columns(writable, reload), page.items, { empty: "无布控 no hotlist entries", rowClass: (r) => (r.active ? "" : "closed") }),
    (err) => errorBox(err, "GET /v1/hotlists"));
  showExpired.addEventListener("change", reload);
  if (writable) box.append(createForm(reload));
  reload();
}

function expiry(r) {
  if (!r.expires_at) return t("长期 no expiry");
  const left = Date.parse(r.expires_at) - Date.now();
  if (left <= 0) return h("span", { class: "error" }, `${t("已过期 expired")} ${dateTime(r.expires_at)}`);
  const days = Math.floor(left / 86400000);
  const hours = Math.floor((left % 86400000) / 3600000);
  return h("span", { class: days < 1 ? "warn" : "" }, `${dateTime(r.expires_at)} · ${t({ zh: `剩 ${days} 天 ${hours} 时`, en: `${days}d ${hours}h left` })}`);
}

function columns(writable, reload) {
  return [
    { label: "号牌 Plate", class: "plate", cell: (r) => h("a", { href: `#/dossier?plate=${encodeURIComponent(r.plate)}` }, r.plate) },
    { label: "级别 Priority", cell: (r) => h("span", { class: `badge ${r.priority.toLowerCase()}` }, r.priority) },
    { label: "类型 Kind", cell: (r) => (r.covert ? h("span", { class: "badge covert" }, t("秘密 covert")) : t("公开 open")) },
    { label: "事由 Reason", cell: (r) => r.reason ?? "—" },
    { label: "来源 Source", cell: (r) => r.source ?? "—" },
    { label: "辖区 Area", cell: (r) => cityName(r.admin_code) },
    { label: "到期 Expires", cell: expiry },
    { label: "", cell: (r) => (writable && r.active ? h("button", { class: "ghost small", onclick: () => remove(r, reload) }, t("撤销 Remove")) : null) },
  ];
}

async function remove(entry, reload) {
  if (!confirm(`${t("撤销布控 remove the entry for")} ${entry.plate}?`)) return;
  try {
    await api("alerts", `/v1/hotlists/${encodeURIComponent(entry.id)}`, { method: "DELETE" });
    reload();
  } catch (err) {
    alert(`${err.code}: ${err.detail}`);
  }
}

function createForm(reload) {
  const result = h("div", {});
  const form = h("form", { class: "inline-form", "data-action": "hotlist-create" },
    h("h4", {}, t("新增布控 Add a plate")),
    h("input", { name: "plate", placeholder: t("号牌 plate"), required: true, maxlength: 16 }),
    h("select", { name: "priority" }, PRIORITIES.map((p) => h("option", { value: p, selected: p === "P2" }, p))),
    h("input", { name: "reason", placeholder: t("事由 reason"), required: true, minlength: 3, maxlength: 500 }),
    h("label", { class: "small" }, t("到期 expires"), " ", h("input", { name: "expires_at", type: "datetime-local" })),
    h("label", { class: "small" }, h("input", { name: "covert", type: "checkbox" }), ` ${t("秘密 covert")}`),
    h("button", { type: "submit" }, t("新增 Add")), result);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = form.elements;
    const body = { plate: f.plate.value.trim(), priority: f.priority.value, reason: f.reason.value.trim(), covert: f.covert.checked };
    if (f.expires_at.value) body.expires_at = new Date(f.expires_at.value).toISOString();
    try {
      await api("alerts", "/v1/hotlists", { method: "POST", body });
      form.reset();
      fill(result);
      reload();
    } catch (err) {
      fill(result, errorBox(err, "POST /v1/hotlists"));
    }
  });
  return form;
}
