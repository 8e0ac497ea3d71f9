// The hazard ledger: dangerous junctions and road sections by risk and status (stock: known and
// tracked; new: found recently). Commanders may add, re-grade and remove points (hazards:write).

import { api } from "./api.js";
import { dateTime, errorBox, fill, h, num } from "./dom.js";
import { t } from "./i18n.js";
import { cityName } from "./labels.js";
import { may } from "./actions.js";
import { RISK_LABEL } from "./map.js";
import { csv, download, loading, table } from "./table.js";
import { pageFrame } from "./views.js";

export const HAZARD_STATUS = { stock: "存量 Stock", new: "新增 New" };

export async function render(box) {
  const risk = h("select", { name: "risk_level" }, h("option", { value: "" }, t("全部风险 Any risk")),
    Object.entries(RISK_LABEL).map(([k, v]) => h("option", { value: k }, t(v))));
  const status = h("select", { name: "status" }, h("option", { value: "" }, t("全部状态 Any status")),
    Object.entries(HAZARD_STATUS).map(([k, v]) => h("option", { value: k }, t(v))));
  let shown = [];
  const exportButton = h("button", { class: "ghost", onclick: () => exportCsv(shown) }, t({ zh: "导出 CSV", en: "Export CSV" }));
  const list = pageFrame(box, "隐患台账 Hazard ledger", risk, status, exportButton);
  const writable = await may("hazards:write");
  const reload = () => loading(list,
    () => api("alerts", "/v1/hazards", { query: { limit: 500, risk_level: risk.value, status: status.value } }),
    (page) => {
      shown = page.items;
      return table(columns(writable, reload), page.items, { empty: "无隐患点 no hazard points" });
    },
    (err) => errorBox(err, "GET /v1/hazards"));
  risk.addEventListener("change", reload);
  status.addEventListener("change", reload);
  if (writable) box.append(createForm(reload));
  reload();
}

function columns(writable, reload) {
  return [
    { label: "名称 Name", cell: (r) => r.name },
    { label: "风险 Risk", cell: (r) => h("span", { class: `risk r-${r.risk_level}` }, t(RISK_LABEL[r.risk_level] || r.risk_level)) },
    { label: "状态 Status", cell: (r) => t(HAZARD_STATUS[r.status] || r.status) },
    { label: "辖区 Area", cell: (r) => cityName(r.admin_code) },
    { label: "位置 Place", class: "mono", cell: (r) => `${num(r.lat, 4)}, ${num(r.lon, 4)} · ${r.radius_m} m` },
    { label: "备注 Note", cell: (r) => r.note || "—" },
    { label: "更新 Updated", cell: (r) => dateTime(r.updated_at) },
    { label: "", cell: (r) => (writable ? actionsCell(r, reload) : null) },
  ];
}

function actionsCell(r, reload) {
  const promote = r.status === "new"
    ? h("button", { class: "ghost small", onclick: () => patch(r, { status: "stock" }, reload) }, t("入账 To stock"))
    : null;
  return h("span", {}, promote, " ", h("button", { class: "ghost small", onclick: () => remove(r, reload) }, t("删除 Remove")));
}

async function patch(r, body, reload) {
  try {
    await api("alerts", `/v1/hazards/${encodeURIComponent(r.id)}`, { method: "PATCH", body });
    reload();
  } catch (err) {
    alert(`${err.code}: ${err.detail}`);
  }
}

async function remove(r, reload) {
  if (!confirm(`${t("删除隐患点 remove")} ${r.name}?`)) return;
  try {
    await api("alerts", `/v1/hazards/${encodeURIComponent(r.id)}`, { method: "DELETE" });
    reload();
  } catch (err) {
    alert(`${err.code}: ${err.detail}`);
  }
}

function exportCsv(rows) {
  const head = ["id", "name", "risk_level", "status", "admin_code", "lat", "lon", "radius_m", "note", "updated_at"];
  download("hazards.csv", csv([head, ...rows.map((r) => head.map((k) => r[k]))]));
}

function createForm(reload) {
  const result = h("div", {});
  const form = h("form", { class: "inline-form", "data-action": "hazard-create" },
    h("h4", {}, t("新增隐患点 Add a hazard point")),
    h("input", { name: "name", placeholder: t("名称 name"), required: true, maxlength: 200 }),
    h("input", { name: "lat", placeholder: t("纬度 lat"), required: true, inputmode: "decimal", size: 8 }),
    h("input", { name: "lon", placeholder: t("经度 lon"), required: true, inputmode: "decimal", size: 8 }),
    h("input", { name: "radius_m", placeholder: t({ zh: "半径（米）", en: "radius (m)" }), value: 300, size: 5 }),
    h("select", { name: "risk_level" }, Object.entries(RISK_LABEL).map(([k, v]) => h("option", { value: k }, t(v)))),
    h("input", { name: "admin_code", placeholder: t("区划代码 admin code"), required: true, pattern: "37\\d{4}", size: 7 }),
    h("button", { type: "submit" }, t("新增 Add")), result);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = form.elements;
    const body = {
      name: f.name.value.trim(), lat: Number(f.lat.value), lon: Number(f.lon.value), radius_m: Number(f.radius_m.value),
      risk_level: f.risk_level.value, admin_code: f.admin_code.value.trim(),
    };
    try {
      await api("alerts", "/v1/hazards", { method: "POST", body });
      form.reset();
      fill(result);
      reload();
    } catch (err) {
      fill(result, errorBox(err, "POST /v1/hazards"));
    }
  });
  return form;
}
