// The ingest panel: the latest accepted violations and the dead-letter queue with its reasons, polled.

import { t } from "./i18n.js";
import { api, claims, emit, on } from "./api.js";
import { $, clockTime, errorBox, fill, h, notAvailable } from "./dom.js";
import { VIOLATIONS, cityName, short } from "./labels.js";
import { measurements } from "./detail.js";

const EVERY_MS = 5000;
const DLQ_PAGE = 100;

export function initIngest() {
  on("token", refresh);
  setInterval(refresh, EVERY_MS);
}

function refresh() {
  loadViolations();
  loadDlq();
}

async function loadViolations() {
  const box = $("#violations");
  try {
    const page = await api("ingest", "/v1/violations", { query: { limit: 30 } });
    if (!page.items.length) return fill(box, h("p", { class: "empty" }, t("暂无违法 no violations yet")));
    fill(box, page.items.map((v) => h("div", { class: "v-row", title: v.event_id },
      h("span", { class: "mono time" }, clockTime(v.captured_at)),
      h("em", { title: v.violation }, short(VIOLATIONS, v.violation)),
      h("span", { class: "plate" }, v.plate || "—"),
      h("span", { class: "city" }, cityName(v.location?.admin_code).split(" ")[0]),
      h("span", { class: "measure" }, measurements(v.measurements || {}) || v.device_id))));
  } catch (err) {
    fill(box, err.unavailable ? notAvailable(t("接入服务 ingest"), err) : errorBox(err, "GET /v1/violations"));
  }
}

async function loadDlq() {
  const box = $("#dlq");
  if ((claims()?.jur || "").length > 2) { // dead letters carry every city's raw data: province-wide roles only (jur "37")
    emit("dlq", null);
    return fill(box, h("p", { class: "empty" }, t("死信仅省级可见 dead letters: province-wide roles only")));
  }
  try {
    const page = await api("ingest", "/v1/dlq", { query: { limit: DLQ_PAGE } });
    emit("dlq", { count: page.items.length, more: Boolean(page.next_cursor) });
    $("#ingest-summary").textContent =
      `${t("死信 DLQ")} ${page.items.length}${page.next_cursor ? "+" : ""}`;
    if (!page.items.length) return fill(box, h("p", { class: "empty" }, t("死信队列为空 DLQ is empty")));
    fill(box, page.items.map((d) => h("div", { class: "dlq-row" },
      h("span", { class: "mono time" }, clockTime(d.received_at)),
      h("span", { class: "reason", title: d.error }, d.error),
      h("code", { class: "raw", title: d.raw }, d.raw.length > 160 ? `${d.raw.slice(0, 160)}…` : d.raw))));
  } catch (err) {
    emit("dlq", null);
    $("#ingest-summary").textContent = "";
    if (err.code === "province_scope_required") return fill(box, h("p", { class: "empty" }, t("死信仅省级可见 dead letters: province-wide roles only")));
    fill(box, err.unavailable ? notAvailable(t("接入服务 ingest: DLQ"), err) : errorBox(err, "GET /v1/dlq"));
  }
}
