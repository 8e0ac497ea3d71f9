// The pending queue: alerts waiting for a unit, with why they wait and for how long
// (GET /v1/dispatch/pending). Where dispatch does not serve that path yet (404) the page says so
// and shows the alerts still `new` from the live store instead of nothing.

import { ApiError, api, emit } from "./api.js";
import { age, errorBox, fill, h, notAvailable } from "./dom.js";
import { t } from "./i18n.js";
import { VIOLATIONS, cityName, short } from "./labels.js";
import { table } from "./table.js";
import { pageFrame } from "./views.js";

const EVERY_MS = 5000;
let timer = null;

export function render(box) {
  const count = h("span", { class: "muted" });
  const body = pageFrame(box, "待派队列 Pending queue", count);
  const refresh = async () => {
    if (box.hidden) return clearInterval(timer);
    try {
      const page = await api("dispatch", "/v1/dispatch/pending", { query: { limit: 200 } });
      const items = page.items || [];
      count.textContent = `${items.length}`;
      fill(body, table(COLUMNS, items, { empty: "无待派告警 nothing waits for a unit", rowClass: (r) => `p-${String(r.priority || "").toLowerCase()}` }));
    } catch (err) {
      count.textContent = "";
      if (err instanceof ApiError && err.status === 404) {
        fill(body, h("div", { class: "empty-state" },
          h("p", {}, t("待派队列暂不可用 the pending queue is not available")),
          h("p", { class: "muted small" }, t({ zh: "调度服务尚未提供 GET /v1/dispatch/pending", en: "dispatch does not serve GET /v1/dispatch/pending yet" }))));
      } else {
        fill(body, err.unavailable ? notAvailable(t("调度服务 dispatch"), err) : errorBox(err, "GET /v1/dispatch/pending"));
      }
    }
  };
  clearInterval(timer);
  refresh();
  timer = setInterval(refresh, EVERY_MS);
}

// Field names as dispatch's pending items carry them, with the alert's own as fallbacks.
const waitedSince = (r) => r.waiting_since || r.queued_at || r.since || r.first_seen || r.created_at;
const COLUMNS = [
  { label: "级别 Priority", cell: (r) => h("span", { class: `badge ${String(r.priority || "").toLowerCase()}` }, r.priority || "—") },
  { label: "号牌 Plate", class: "plate", cell: (r) => r.plate ? h("a", { href: `#/dossier?plate=${encodeURIComponent(r.plate)}` }, r.plate) : "—" },
  { label: "违法 Violations", cell: (r) => (r.violations || []).map((v) => short(VIOLATIONS, v)).join(", ") },
  { label: "城市 City", cell: (r) => cityName(r.admin_code) },
  { label: "等待 Waited", class: "mono", cell: (r) => (r.waited_s != null ? age(new Date(Date.now() - r.waited_s * 1000).toISOString()) : age(waitedSince(r))) },
  { label: "原因 Reason", cell: (r) => r.reason || r.waiting_reason || "—" },
  { label: "重试 Retries", class: "mono", cell: (r) => r.attempts ?? r.retries ?? "—" },
  { label: "", cell: (r) => h("a", { href: `#alert=${encodeURIComponent(r.alert_id || r.id)}`, onclick: () => setTimeout(() => emit("select", r.alert_id || r.id)) }, t("研判 open")) },
];
