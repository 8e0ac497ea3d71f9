// Shared-credential supervision (auditors and commanders, supervision:read): each time a patrol
// credential was used from a second device while the first was still in use, or by a person on no
// crew of the token's unit (GET /v1/supervision/credential-events on dispatch, newest first, within
// the reader's jurisdiction). Filtered by kind, officer and time; more rows by the API's cursor.

import { api } from "./api.js";
import { dateTime, errorBox, fill, h, notAvailable } from "./dom.js";
import { t } from "./i18n.js";
import { CREDENTIAL_KINDS, ROLES, cityName, districtName, short } from "./labels.js";
import { csv, download, table } from "./table.js";
import { pageFrame } from "./views.js";

const PATH = "/v1/supervision/credential-events";
const LIMIT = 100;

export function render(box, params) {
  const count = h("span", { class: "muted" });
  const kind = h("select", { name: "kind", "aria-label": "kind" },
    h("option", { value: "" }, t("全部类型 every kind")),
    Object.keys(CREDENTIAL_KINDS).map((k) => h("option", { value: k, selected: params.get("kind") === k }, short(CREDENTIAL_KINDS, k))));
  const form = h("form", { class: "inline-form", "data-action": "supervision-search" }, kind,
    h("input", { name: "officer_id", placeholder: t("警员 officer (sub)"), size: 16, value: params.get("officer_id") || "" }),
    h("label", { class: "small" }, t("自 since"), " ", h("input", { name: "since", type: "datetime-local" })),
    h("button", { type: "submit" }, t("查询 Search")),
    h("button", { type: "button", class: "ghost", "data-action": "export", onclick: () => exportCsv(shown) }, t({ zh: "导出 CSV", en: "Export CSV" })));
  const list = h("div", {});
  const more = h("button", { type: "button", class: "ghost", "data-action": "more", hidden: true }, t("加载更多 Load more"));
  fill(pageFrame(box, "共用警号监督 Shared-credential supervision", count), form, list, more);

  let shown = [];
  let cursor = null;
  let query = {};
  let searches = 0; // a page that arrives after a newer search started is dropped
  const load = async () => {
    const mine = searches;
    more.disabled = true;
    try {
      const page = await api("dispatch", PATH, { query: { ...query, limit: LIMIT, cursor } });
      if (mine !== searches) return;
      shown = [...shown, ...page.items];
      cursor = page.next_cursor;
      count.textContent = `${shown.length}${cursor ? "+" : ""}`;
      fill(list, table(COLUMNS, shown, { empty: "无共用警号迹象 no shared-credential signs", rowClass: (r) => `cred-${r.kind}` }));
    } catch (err) {
      if (mine !== searches) return;
      cursor = null;
      fill(list, err.unavailable ? notAvailable(t("调度服务 dispatch"), err) : errorBox(err, `GET ${PATH}`));
    }
    more.disabled = false;
    more.hidden = !cursor;
  };
  const search = () => {
    const f = form.elements;
    query = { kind: f.kind.value, officer_id: f.officer_id.value.trim() };
    if (f.since.value) query.since = new Date(f.since.value).toISOString();
    searches += 1;
    shown = [];
    cursor = null;
    fill(list, h("p", { class: "empty" }, t("查询中 searching…")));
    return load();
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    search();
  });
  more.addEventListener("click", load);
  search();
}

const officerLink = (id) => h("a", { href: `#/supervision?officer_id=${encodeURIComponent(id)}` }, id);
const area = (code) => [cityName(code), districtName(code)].filter(Boolean).join(" ");

const COLUMNS = [
  { label: "时间 Time", class: "mono", cell: (r) => dateTime(r.at) },
  { label: "迹象 Sign", cell: (r) => h("span", { class: `badge cred-${r.kind}` }, short(CREDENTIAL_KINDS, r.kind)) },
  { label: "警员 Officer", class: "mono", cell: (r) => officerLink(r.officer_id) },
  { label: "角色 Role", cell: (r) => short(ROLES, r.role) },
  { label: "本设备 Device", class: "mono", cell: (r) => r.device_id || "—" },
  { label: "另一设备 Other device", class: "mono", cell: (r) => r.other_device_id || "—" },
  { label: "动作 Action", class: "mono", cell: (r) => r.action },
  { label: "警力 Unit", class: "mono", cell: (r) => r.unit_id || "—" },
  { label: "辖区 Area", cell: (r) => area(r.admin_code) },
];

function exportCsv(rows) {
  const head = ["at", "kind", "officer_id", "role", "device_id", "other_device_id", "action", "unit_id", "admin_code", "id"];
  download("qzx-credential-events.csv", csv([head, ...rows.map((r) => head.map((k) => r[k]))]));
}
