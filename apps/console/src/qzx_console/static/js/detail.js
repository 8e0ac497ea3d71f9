// The selected alert: why it scored what it did (factors), the events behind it, its task, and
// the actions the signed-in role may take (actions.js).

import { t } from "./i18n.js";
import { ApiError, api, emit, on } from "./api.js";
import { $, age, dateTime, errorBox, fill, h, notAvailable, num } from "./dom.js";
import { ALERT_STATUS, FACTOR_NAMES, KINDS, OUTCOMES, TASK_STATUS, VIOLATIONS, cityName, districtName, factorText, short } from "./labels.js";
import { store } from "./alerts.js";
import { actionsFor } from "./actions.js";
import { ESCALATION_KINDS } from "./escalation.js";
import { evidenceList } from "./evidence.js";

const MAX_EVENTS = 8;
let current = null; // id being shown
let refreshTimer = null;

export function initDetail() {
  on("token", () => {
    current = null;
    fill($("#detail"), h("p", { class: "empty" }, t("选择一条告警 · select an alert")));
  });
  on("select", (id) => show(id));
  on("selected-updated", () => {
    clearTimeout(refreshTimer); // a burst of stream updates refreshes once
    refreshTimer = setTimeout(() => current && show(current, { quiet: true }), 400);
  });
}

async function show(id, { quiet = false } = {}) {
  current = id;
  const box = $("#detail");
  if (!quiet) fill(box, h("p", { class: "empty" }, t("加载中 loading…")));
  let alert;
  try {
    alert = await api("alerts", `/v1/alerts/${encodeURIComponent(id)}`);
  } catch (err) {
    alert = store.alerts.get(id);
    if (!alert) return fill(box, errorBox(err, `GET /v1/alerts/${id}`));
  }
  if (current !== id) return;
  const events = h("div", { class: "events" }, h("p", { class: "muted" }, "…"));
  const task = h("div", { class: "task" });
  const actions = h("div", {});
  fill(box, summary(alert), factorList(alert), section(t("处置 Actions"), null, actions),
    section(t("处置任务 Task"), null, task), section(t("关联事件 Events"), alert.count ?? alert.event_ids?.length, events));
  loadEvents(alert, events);
  const shown = await loadTask(alert, task);
  if (current === id) fill(actions, await actionsFor(alert, shown, () => show(id, { quiet: true })));
}

function section(title, count, body) {
  return h("div", { class: "section" }, h("h4", {}, title, count != null ? h("small", {}, ` (${count})`) : null), body);
}

function summary(a) {
  const loc = a.location || {};
  const plates = a.plates && a.plates.length ? a.plates.join(" · ") : a.plate || t("无牌 no plate");
  return h("div", { class: `summary ${a.priority?.toLowerCase()}` },
    h("div", { class: "score-big" }, h("b", {}, Math.round(a.score ?? 0)), h("small", {}, "/100")),
    h("div", { class: "who" },
      h("div", {}, h("span", { class: `badge ${a.priority?.toLowerCase()}` }, a.priority), " ",
        h("span", { class: "plate big" }, plates)),
      h("div", { class: "muted" }, short(KINDS, a.kind), " · ",
        (a.violations || []).map((v) => short(VIOLATIONS, v)).join(", ")),
      h("div", {}, h("span", { class: `status s-${a.status}` }, short(ALERT_STATUS, a.status)),
        h("span", { class: "muted mono" }, `  ${a.id}`))),
    h("dl", { class: "meta" },
      h("dt", {}, t("城市 City")), h("dd", {}, cityName(a.admin_code), districtName(a.admin_code) ? ` · ${districtName(a.admin_code)}` : "", h("small", { class: "muted" }, ` ${a.admin_code}`)),
      h("dt", {}, t("位置 Place")), h("dd", {}, [loc.road, loc.km != null ? `K${num(loc.km, 1)}` : null].filter(Boolean).join(" ") || "—",
        h("small", { class: "muted" }, ` ${num(loc.lat, 3)}, ${num(loc.lon, 3)}`)),
      h("dt", {}, t("首次 First")), h("dd", {}, dateTime(a.first_seen), h("small", { class: "muted" }, t({ zh: ` (${age(a.first_seen)}前)`, en: ` (${age(a.first_seen)} ago)` }))),
      h("dt", {}, t("最近 Last")), h("dd", {}, dateTime(a.last_seen), h("small", { class: "muted" }, ` · ${a.count ?? 1}×`))));
}

function factorList(a) {
  const factors = [...(a.factors || [])].sort((x, y) => Math.abs(y.contribution) - Math.abs(x.contribution));
  const scale = Math.max(1, ...factors.map((f) => Math.abs(f.contribution || 0)));
  const total = factors.reduce((sum, f) => sum + (f.contribution || 0), 0);
  return section(t("评分因子 Why this score"), factors.length,
    factors.length
      ? h("div", { class: "factors" }, factors.map((f) => h("div", { class: "factor" },
        h("span", { class: "fname", title: f.name }, short(FACTOR_NAMES, f.name)),
        h("span", { class: "fbar" }, h("i", {
          class: f.contribution < 0 ? "neg" : "",
          style: { width: `${(Math.abs(f.contribution || 0) / scale) * 100}%` },
        })),
        h("span", { class: "fcontrib" }, `${f.contribution >= 0 ? "+" : ""}${num(f.contribution, 1)}`),
        h("span", { class: "fvalue", title: "value" }, formatValue(f.value)),
        h("span", { class: "fwhy", title: f.why }, factorText(f, a)))),
      h("div", { class: "factor-total muted" }, `Σ ${num(total, 1)} → ${t("评分 score")} ${num(a.score, 1)}`))
      : h("p", { class: "muted" }, t("无因子 no factors")));
}

function formatValue(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(2);
  return String(value);
}

async function loadEvents(alert, box) {
  // alerts' linked events (its own copy of each sighting) carry no evidence: then ingest's records.
  let events = Array.isArray(alert.events) && alert.events.every((e) => "evidence" in e) ? alert.events : null;
  const ids = (alert.event_ids || []).slice(-MAX_EVENTS).reverse();
  if (!events) {
    const results = await Promise.allSettled(
      ids.map((id) => api("ingest", `/v1/violations/${encodeURIComponent(id)}`)));
    events = results.map((r, i) => (r.status === "fulfilled" ? r.value : { event_id: ids[i], error: r.reason }));
  }
  if (!events.length) return fill(box, h("p", { class: "muted" }, t("无事件 no events")));
  events = [...events].sort((a, b) => String(b.captured_at || "").localeCompare(String(a.captured_at || "")));
  fill(box, events.slice(0, MAX_EVENTS).map(eventRow),
    (alert.event_ids || []).length > MAX_EVENTS ? h("p", { class: "muted" }, `… ${alert.event_ids.length - MAX_EVENTS} more`) : null);
}

function eventRow(e) {
  if (e.error) {
    const err = e.error instanceof ApiError ? e.error : { detail: String(e.error) };
    return h("div", { class: "event" }, h("span", { class: "mono" }, e.event_id),
      h("span", { class: "muted" }, ` ${err.code || ""} ${err.detail || ""}`));
  }
  return h("div", { class: "event" },
    h("span", { class: "mono time" }, dateTime(e.captured_at)),
    h("em", {}, short(VIOLATIONS, e.violation)),
    h("span", { class: "plate" }, e.plate || "—"),
    h("span", { class: "muted" }, `${e.device_id || ""} ${e.location?.road || ""}`),
    h("span", { class: "measure" }, measurements(e.measurements || {}), e.confidence != null ? ` · conf ${num(e.confidence, 2)}` : ""),
    evidenceList(e.evidence, e.plate || e.device_id || ""));
}

// The figure that makes the violation first (weight before speed for a moving overloaded truck).
export function measurements(m) {
  const parts = [];
  if (m.bac_mg_100ml != null) parts.push(`BAC ${m.bac_mg_100ml} mg/100mL`);
  if (m.gross_weight_kg != null) {
    parts.push(`${num(m.gross_weight_kg / 1000, 1)}${m.weight_limit_kg ? `/${num(m.weight_limit_kg / 1000, 0)}` : ""} t`);
  }
  if (m.noise_db != null) parts.push(`${m.noise_db} dB`);
  if (m.riders != null) parts.push(`${m.riders} riders`);
  if (m.speed_kmh != null) parts.push(`${m.speed_kmh}${m.speed_limit_kmh ? `/${m.speed_limit_kmh}` : ""} km/h`);
  if (m.axles != null) parts.push(`${m.axles} axles`);
  return parts.join(" · ");
}

// The alert's latest task (the alert's task_id may lag behind a dispatch just made), or null.
async function loadTask(alert, box) {
  try {
    const page = await api("dispatch", "/v1/tasks", { query: { alert_id: alert.id, limit: 1 } });
    const task = page.items[0];
    if (!task) {
      fill(box, h("p", { class: "muted" }, t("未派单 no task yet")));
      return null;
    }
    emit("task", task); // the task list shows the same state
    const history = h("div", { class: "task-history" });
    fill(box, taskCard(task), history);
    loadHistory(task, history);
    return task;
  } catch (err) {
    fill(box, h("p", { class: "mono" }, alert.task_id || ""),
      err.unavailable ? notAvailable(t("调度服务 dispatch"), err) : errorBox(err, "GET /v1/tasks"));
    return null;
  }
}

function taskCard(task) {
  const reasons = task.reasons || {};
  const chosen = reasons.chosen;
  const runnersUp = Array.isArray(reasons.runners_up) ? reasons.runners_up : [];
  return h("div", { class: "task-card" },
    h("div", {}, h("span", { class: `tstatus t-${task.status}` }, short(TASK_STATUS, task.status)), " ",
      h("b", {}, task.unit_id), " ", task.escalated ? h("span", { class: "badge p1" }, t("升级 escalated")) : null),
    h("div", { class: "muted" }, task.summary),
    h("dl", { class: "meta" },
      h("dt", {}, t("签收时限 Sign by")), h("dd", {}, dateTime(task.sign_by)),
      h("dt", {}, t("反馈 Outcome")), h("dd", {}, task.outcome ? short(OUTCOMES, task.outcome) : "—", task.note ? ` · ${task.note}` : ""),
      task.intercept_point ? [h("dt", {}, t("拦截点 Intercept")), h("dd", {},
        `${task.intercept_point.device_id || ""} ${num(task.intercept_point.lat, 3)}, ${num(task.intercept_point.lon, 3)}`)] : null,
      reasons.needs ? [h("dt", {}, t("所需 Needs")), h("dd", {}, [...reasons.needs, reasons.enforcement ? "sworn officer" : null].filter(Boolean).join(", ") || "—")] : null,
      chosen ? [h("dt", {}, t("选派 Chosen")), h("dd", {}, unitFigures(chosen))] : null,
      task.reason ? [h("dt", {}, t("变更 Change")), h("dd", {}, task.reason)] : null),
    runnersUp.length
      ? h("div", { class: "runners" }, h("small", { class: "muted" }, t("备选 Runners-up")),
        runnersUp.slice(0, 3).map((r) => h("div", { class: "small" }, h("b", {}, r.unit_id), ` ${unitFigures({ ...r, unit_id: null })} — ${r.why || ""}`)))
      : null);
}

const EVENT_KINDS = {
  preempted: "被抢占 pre-empted", preempting: "抢占 pre-empting", requeued: "回到待派 re-queued", escalated: "升级 escalated",
  ...ESCALATION_KINDS,
};

// The task's history besides its own changes (pre-emptions, re-queueing, escalations).
async function loadHistory(task, box) {
  try {
    const page = await api("dispatch", `/v1/tasks/${encodeURIComponent(task.id)}/events`);
    if (!page.items.length) return;
    fill(box, h("small", { class: "muted" }, t("经过 History")), page.items.map((e) => h("div", { class: "small" },
      h("span", { class: "mono" }, dateTime(e.at)), " ", h("b", {}, short(EVENT_KINDS, e.kind)), e.reason ? ` · ${e.reason}` : "")));
  } catch {
    /* older dispatch without the history route: the card stands alone */
  }
}

function unitFigures(r) {
  const parts = [];
  if (r.unit_id) parts.push(r.unit_id);
  if (r.travel_s != null) parts.push(`${num(r.travel_s / 60, 1)} min`);
  if (r.workload != null) parts.push(`workload ${r.workload}`);
  return parts.join(" · ");
}
