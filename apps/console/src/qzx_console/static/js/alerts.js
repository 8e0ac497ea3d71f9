// The live alert list: the first page from GET /v1/alerts (and a filtered page when filters are
// set), then every change from the SSE stream (event `alert`), resumed with Last-Event-ID.

import { t } from "./i18n.js";
import { api, emit, on, openStream } from "./api.js";
import { $, age, errorBox, fill, h, notAvailable } from "./dom.js";
import {
  ALERT_STATUS, OPEN_STATUSES, PRIORITIES, PRIORITY_LABEL, VIOLATIONS, cities, cityName, short,
} from "./labels.js";

const MAX_KEPT = 1000;
const MAX_SHOWN = 300;
const FLASH_MS = 2500;

export const store = {
  alerts: new Map(),
  filters: { status: "", priority: "", violation: "", city: "" },
  selected: null,
};
const flashed = new Map(); // alert id -> time it last changed on the stream
const rows = new Map(); // alert id -> {el, sig}: rows are kept and replaced only when they change
let stream = null;
let renderQueued = false;
let revealSelected = false; // scroll the selection into view once, not on every re-render

export function matches(alert, f = store.filters) {
  if (f.status && alert.status !== f.status) return false;
  if (f.priority && alert.priority !== f.priority) return false;
  if (f.violation && !(alert.violations || []).includes(f.violation)) return false;
  if (f.city && !String(alert.admin_code || "").startsWith(f.city.slice(0, 4))) return false;
  return true;
}

// Sorted once a frame: open first, then priority, then the latest seen (parsed once per alert).
export function visibleAlerts() {
  const keyed = [];
  for (const a of store.alerts.values()) {
    if (matches(a)) keyed.push([OPEN_STATUSES.has(a.status) ? 0 : 1, String(a.priority), Date.parse(a.last_seen) || 0, a]);
  }
  keyed.sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0) || y[2] - x[2]);
  return keyed.map((k) => k[3]);
}

export function initAlerts() {
  buildFilters();
  on("token", () => {
    store.alerts.clear();
    store.selected = null; // another person may not see it: start from their own most urgent
    // The page is read once the stream holds its position, so that nothing falls in between.
    restartStream(() => load({ all: true }));
  });
  on("select", (id) => {
    store.selected = id;
    revealSelected = true;
    // The address names the selection only on the overview: a page's own address (#/…) stays.
    if (!location.hash.startsWith("#/")) history.replaceState(null, "", `#alert=${encodeURIComponent(id)}`);
    scheduleRender();
  });
  on("alert-changed", (alert) => upsert(alert));
  setInterval(tickAges, 1000);
}

function buildFilters() {
  const form = $("#filters");
  const options = {
    status: [t("全部状态 Status"), Object.entries(ALERT_STATUS).map(([k, v]) => [k, t(v)])],
    priority: [t("全部级别 Priority"), PRIORITIES.map((p) => [p, t(PRIORITY_LABEL[p])])],
    violation: [t("全部违法 Violation"), Object.entries(VIOLATIONS).map(([k, v]) => [k, t(v)])],
    city: [t("全部城市 City"), cities.list.map((c) => [c.code, t(`${c.name_zh} ${c.name}`)])],
  };
  for (const [name, [label, entries]] of Object.entries(options)) {
    fill(form.elements[name], h("option", { value: "" }, label),
      entries.map(([value, text]) => h("option", { value }, text)));
  }
  form.addEventListener("change", () => applyFilters(form));
  form.addEventListener("reset", () => setTimeout(() => applyFilters(form)));
}

function applyFilters(form) {
  for (const name of Object.keys(store.filters)) store.filters[name] = form.elements[name].value;
  load();
}

// The store is the union of what was fetched and streamed: the first unfiltered page feeds the
// map and the counters, a filtered page makes sure older matches are listed too.
async function load({ all = false } = {}) {
  const f = store.filters;
  const filtered = Object.values(f).some(Boolean);
  try {
    if (all) {
      merge((await api("alerts", "/v1/alerts", { query: { limit: 500 } })).items);
      focusFirst();
    }
    if (filtered) {
      const query = {
        status: f.status, priority: f.priority, violation: f.violation,
        admin_code: f.city ? f.city.slice(0, 4) : "", limit: 200,
      };
      merge((await api("alerts", "/v1/alerts", { query })).items);
    }
    scheduleRender();
  } catch (err) {
    const list = $("#alert-list");
    fill(list, err.unavailable ? notAvailable(t("告警服务 alerts service"), err) : errorBox(err, "GET /v1/alerts"));
  }
}

// On first load: the alert named in the address (#alert=<id>), else the most urgent one.
function focusFirst() {
  if (store.selected) return;
  const named = decodeURIComponent((location.hash.match(/^#alert=(.+)$/) || [])[1] || "");
  const id = named || visibleAlerts()[0]?.id;
  if (id) emit("select", id);
}

function merge(items) {
  for (const alert of items) {
    const old = store.alerts.get(alert.id);
    if (!old || (old.version || 0) <= (alert.version || 0)) store.alerts.set(alert.id, alert);
  }
  if (store.alerts.size > MAX_KEPT) trim();
  scheduleRender();
}

function restartStream(onceStarted) {
  if (stream) stream.close();
  const state = $("#stream-state");
  let started = false;
  stream = openStream("alerts", "/v1/alerts/stream", {
    onEvent(type, data) {
      if (type !== "alert" && type !== "escalation") return;
      const arrived = performance.now();
      try {
        if (type === "escalation") emit("escalation", JSON.parse(data));
        else {
          const alert = JSON.parse(data);
          // the benchmark's probe: an alert's first arrival (its later updates, e.g. dispatched, come after its row)
          if (window.qzxArrivals && alert && !(alert.id in window.qzxArrivals)) window.qzxArrivals[alert.id] = arrived;
          upsert(alert);
        }
      } catch (err) {
        console.warn(`unreadable ${type} event`, err, data);
      }
    },
    onState(kind, detail) {
      if (!started && (kind === "live" || kind === "error")) {
        started = true; // a stream that fails still gets its page read (and its error shown)
        onceStarted();
      }
      state.className = `live ${kind}`;
      const text = { live: t("实时 LIVE"), connecting: t("连接中 connecting"), reconnecting: t("重连 reconnecting") };
      state.textContent = text[kind] || t("中断 stream down");
      state.title = detail && detail.detail ? `${detail.code}: ${detail.detail}` : detail || "";
    },
  });
}

function upsert(alert) {
  if (!alert || !alert.id) return;
  const old = store.alerts.get(alert.id);
  if (old && (old.version || 0) > (alert.version || 0)) return; // an older change arriving late
  store.alerts.set(alert.id, { ...old, ...alert });
  // Flash what changes now, not a backlog replayed after a reconnect.
  if (Date.now() - Date.parse(alert.updated_at || alert.last_seen) < FLASH_MS * 4) flashed.set(alert.id, Date.now());
  if (store.alerts.size > MAX_KEPT) trim();
  scheduleRender();
  if (alert.id === store.selected) emit("selected-updated", store.alerts.get(alert.id));
  if (old && old.status !== alert.status) emit("alert-status", store.alerts.get(alert.id)); // its task moved
}

function trim() {
  const oldest = [...store.alerts.values()].sort((a, b) => Date.parse(a.last_seen) - Date.parse(b.last_seen));
  for (const a of oldest.slice(0, store.alerts.size - MAX_KEPT)) store.alerts.delete(a.id);
}

// Everything a change causes happens once a frame, however many events arrived in it: the list,
// then the other panels (counters, map, banner) through one "alerts" event carrying the order.
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    store.visible = visibleAlerts();
    render(store.visible);
    emit("alerts", store);
  });
}

function render(alerts) {
  $("#alerts-count").textContent = t({ zh: `显示 ${alerts.length} 条 · 已载 ${store.alerts.size}`, en: `${alerts.length} shown · ${store.alerts.size} loaded` });
  const list = $("#alert-list");
  if (!alerts.length) {
    rows.clear();
    fill(list, h("p", { class: "empty" }, t("暂无告警 no alerts match")));
    return;
  }
  if (list.firstElementChild && !list.firstElementChild.classList.contains("alert-row")) list.replaceChildren();
  const shown = alerts.slice(0, MAX_SHOWN);
  const wanted = new Set();
  const now = Date.now();
  // Moves only what is out of place: a new alert at the top is one insertion, not 300 rows.
  let at = list.firstElementChild;
  for (const a of shown) {
    wanted.add(a.id);
    const el = rowFor(a, now);
    if (el !== at) list.insertBefore(el, at);
    else at = at.nextElementSibling;
  }
  while (at) {
    const next = at.nextElementSibling;
    at.remove();
    at = next;
  }
  for (const id of rows.keys()) if (!wanted.has(id)) rows.delete(id);
  if (revealSelected) {
    revealSelected = false;
    list.querySelector(".selected")?.scrollIntoView({ block: "nearest" });
  }
}

// A row is rebuilt only when what it shows changed (a new row also restarts the flash).
function rowFor(a, now) {
  const fresh = now - (flashed.get(a.id) || 0) < FLASH_MS;
  const sig = [a.version, a.status, a.priority, a.score, a.plate, (a.plates || []).length, (a.violations || []).join(),
    a.admin_code, a.first_seen, a.id === store.selected, fresh].join("|");
  const kept = rows.get(a.id);
  if (kept && kept.sig === sig) return kept.el;
  // A row that merely stops flashing keeps its element (its animation has run its course).
  if (kept && kept.sig === sig.replace(/\|false$/, "|true")) {
    kept.sig = sig;
    return kept.el;
  }
  const el = row(a, fresh);
  if (kept) kept.el.replaceWith(el);
  rows.set(a.id, { el, sig });
  return el;
}

function row(a, fresh) {
  const plates = a.plates && a.plates.length > 1 ? `${a.plate || a.plates[0]} +${a.plates.length - 1}` : a.plate;
  return h("div", {
    class: `alert-row ${a.priority?.toLowerCase()} ${a.id === store.selected ? "selected" : ""} ${fresh ? "flash" : ""} ${OPEN_STATUSES.has(a.status) ? "" : "closed"}`,
    role: "button", tabindex: 0, title: a.id,
    onclick: () => emit("select", a.id),
    onkeydown: (e) => e.key === "Enter" && emit("select", a.id),
  },
  h("span", { class: `badge ${a.priority?.toLowerCase()}` }, a.priority),
  h("span", { class: "score" }, h("b", {}, Math.round(a.score ?? 0)),
    h("i", { style: { width: `${Math.max(0, Math.min(100, a.score ?? 0))}%` } })),
  h("span", { class: "plate" }, plates || t("无牌 —")),
  h("span", { class: "chips" }, (a.violations || []).map((v) => h("em", { title: v }, short(VIOLATIONS, v)))),
  h("span", { class: "city" }, cityName(a.admin_code).split(" ")[0]),
  h("span", { class: `status s-${a.status}` }, short(ALERT_STATUS, a.status)),
  h("span", { class: "age", "data-ts": a.first_seen }, age(a.first_seen)));
}

function tickAges() {
  const now = Date.now();
  for (const el of document.querySelectorAll("[data-ts]")) el.textContent = age(el.dataset.ts, now);
}
