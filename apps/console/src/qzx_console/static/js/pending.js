// The pending queue: alerts waiting for a unit, P1 first then the longest waiting, with why they
// wait, for how long and when dispatch tries again (GET /v1/dispatch/pending). A dispatch that does
// not serve that path (an older version: 404) gets an empty state that says so.

import { ApiError, api, emit } from "./api.js";
import { age, clockTime, errorBox, fill, h, notAvailable } from "./dom.js";
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

const COLUMNS = [
  { label: "级别 Priority", cell: (r) => h("span", { class: `badge ${String(r.priority).toLowerCase()}` }, r.priority) },
  { label: "号牌 Plate", class: "plate", cell: (r) => (r.plate ? h("a", { href: `#/dossier?plate=${encodeURIComponent(r.plate)}` }, r.plate) : "—") },
  { label: "违法 Violations", cell: (r) => (r.violations || []).map((v) => short(VIOLATIONS, v)).join(", ") },
  { label: "城市 City", cell: (r) => cityName(r.admin_code) },
  { label: "等待 Waited", class: "mono", cell: (r) => h("span", { "data-ts": r.waiting_since }, age(r.waiting_since)) },
  { label: "原因 Reason", cell: (r) => [r.requeued ? h("span", { class: "badge p2" }, t("被抢占回队 re-queued")) : null, " ", r.reason || "—"] },
  { label: "尝试 Tries", class: "mono", cell: (r) => r.attempts },
  { label: "下次 Next try", class: "mono", cell: (r) => (r.next_try_at ? clockTime(r.next_try_at) : "—") },
  { label: "", cell: (r) => [
    h("a", { href: `#alert=${encodeURIComponent(r.alert_id)}`, onclick: () => setTimeout(() => emit("select", r.alert_id)) }, t("研判 open")),
    " · ",
    h("a", { href: `#/aid?alert=${encodeURIComponent(r.alert_id)}`, "data-action": "ask-aid" }, t("请求支援 ask for aid")),
  ] },
];
