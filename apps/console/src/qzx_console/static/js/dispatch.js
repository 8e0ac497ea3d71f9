// The dispatch panel: the unit status board (per city) and the task list, polled (the list also on
// its alerts' changes on the alert stream).

import { t } from "./i18n.js";
import { api, emit, on } from "./api.js";
import { $, age, errorBox, fill, h, notAvailable } from "./dom.js";
import { OUTCOMES, TASK_STATUS, cities, cityOf, short } from "./labels.js";

const UNITS_EVERY_MS = 10000;
const TASKS_EVERY_MS = 4000;
const ACTIVE = new Set(["assigned", "signed", "en_route", "on_scene"]);
const UNIT_STATES = {
  available: t("空闲 available"), busy: t("执勤 on task"), off_duty: t("下班 off duty"), unavailable: t("不可用 unavailable"),
};

export function initDispatch() {
  on("token", () => {
    homes.clear();
    loadUnits();
    loadTasks();
  });
  setInterval(loadUnits, UNITS_EVERY_MS);
  setInterval(loadTasks, TASKS_EVERY_MS);
  // A task's change moves its alert's status on the alert stream: the list reads the tasks again
  // then, not only on its timer; and the detail's fresh read of a task replaces that task's row, so
  // the two panels never disagree about one task.
  on("alert-status", () => {
    clearTimeout(reloadSoon); // a burst of stream updates reads the list once
    reloadSoon = setTimeout(loadTasks, 300);
  });
  on("task", (task) => {
    const i = listed.findIndex((x) => x.id === task.id);
    if (i < 0 || listed[i].status === task.status) return;
    listed[i] = task;
    renderTasks(listed);
  });
}

let listed = []; // the tasks the list shows
let reloadSoon = null;

export function itemsOf(body, ...keys) {
  if (Array.isArray(body)) return body;
  for (const key of ["items", ...keys]) if (body && Array.isArray(body[key])) return body[key];
  return [];
}

const homes = new Map(); // unit id -> {lat, lon, city_code} from GET /v1/units (the board has no home)

// The board endpoint if dispatch has it, else the plain unit list; either way one shape:
// {id, call_sign, admin_code, city_code, vehicle, capabilities, board_status, lat, lon, task}.
async function fetchUnits() {
  if (!homes.size) await loadHomes();
  let raw;
  try {
    raw = itemsOf(await api("dispatch", "/v1/units/board"), "units", "board");
  } catch (err) {
    if (err.status !== 404 && err.status !== 405) throw err;
    raw = itemsOf(await api("dispatch", "/v1/units", { query: { limit: 500 } }), "units");
  }
  return raw.map((u) => {
    const id = u.unit_id || u.id;
    const home = homes.get(id) || {};
    const where = u.location || u.home || home;
    return {
      ...u, id, board_status: unitState(u),
      city_code: u.city_code || home.city_code || cityOf(u.admin_code)?.code,
      lat: where.lat ?? u.lat, lon: where.lon ?? u.lon, live: Boolean(u.location),
    };
  });
}

async function loadHomes() {
  try {
    let cursor = null;
    do {
      const page = await api("dispatch", "/v1/units", { query: { limit: 500, cursor } });
      for (const u of itemsOf(page)) homes.set(u.id, { ...(u.home || {}), city_code: u.city_code });
      cursor = page.next_cursor;
    } while (cursor);
  } catch {
    /* the board still works without home positions; units then stay off the map */
  }
}

export function unitState(u) {
  const raw = String(u.state || u.board_status || u.status || "unknown").toLowerCase();
  if (u.task || u.task_id || raw === "busy" || raw === "on_task") return "busy";
  if (u.on_duty === false || raw === "off_duty") return "off_duty";
  return UNIT_STATES[raw] ? raw : "unavailable";
}

async function loadUnits() {
  const box = $("#units");
  try {
    const units = await fetchUnits();
    emit("units", units);
    renderBoard(box, units);
  } catch (err) {
    $("#units-summary").textContent = "";
    fill(box, err.unavailable ? notAvailable(t("调度服务 dispatch: units"), err) : errorBox(err, "GET /v1/units/board"));
  }
}

function renderBoard(box, units) {
  const counts = { available: 0, busy: 0, off_duty: 0, unavailable: 0 };
  const byCity = new Map(cities.list.map((c) => [c.code, []]));
  for (const u of units) {
    counts[u.board_status] = (counts[u.board_status] || 0) + 1;
    const code = u.city_code || "other";
    if (!byCity.has(code)) byCity.set(code, []);
    byCity.get(code).push(u);
  }
  $("#units-summary").textContent =
    t({ zh: `${units.length} · 空闲 ${counts.available} · 执勤 ${counts.busy} · 下班 ${counts.off_duty}`, en: `${units.length} · ${counts.available} free · ${counts.busy} busy · ${counts.off_duty} off` });
  if (!units.length) return fill(box, h("p", { class: "empty" }, t("无警力 no units")));
  fill(box, [...byCity.entries()].filter(([, list]) => list.length).map(([code, list]) => {
    const city = cities.byCode.get(code);
    const free = list.filter((u) => u.board_status === "available").length;
    return h("div", { class: "board-row" },
      h("span", { class: "bcity" }, city ? t(`${city.name_zh} ${city.name}`) : code),
      h("span", { class: "tiles" }, list.sort(byState).map((u) => h("i", {
        class: `tile u-${u.board_status}`,
        title: `${u.call_sign || u.id} · ${UNIT_STATES[u.board_status]} · ${u.vehicle || ""} ${(u.capabilities || []).join(", ")}${u.task ? ` · task ${u.task.id} ${u.task.status}` : ""}`,
      }))),
      h("span", { class: "bcount" }, `${free}/${list.length}`));
  }));
}

const STATE_ORDER = ["available", "busy", "unavailable", "off_duty"];
const byState = (a, b) => STATE_ORDER.indexOf(a.board_status) - STATE_ORDER.indexOf(b.board_status)
  || String(a.id).localeCompare(String(b.id));

async function loadTasks() {
  try {
    renderTasks(itemsOf(await api("dispatch", "/v1/tasks", { query: { limit: 50 } }), "tasks"));
  } catch (err) {
    $("#tasks-summary").textContent = "";
    fill($("#tasks"), err.unavailable ? notAvailable(t("调度服务 dispatch: tasks"), err) : errorBox(err, "GET /v1/tasks"));
  }
}

function renderTasks(tasks) {
  listed = tasks;
  emit("tasks", tasks);
  const active = tasks.filter((task) => ACTIVE.has(task.status));
  const late = active.filter(isOverdue).length;
  $("#tasks-summary").textContent =
    t({ zh: `在办 ${active.length}${late ? ` · 超时 ${late}` : ""}${tasks.length >= 50 ? "（最近 50 条）" : ""}`, en: `${active.length} active${late ? ` · ${late} overdue` : ""}${tasks.length >= 50 ? " (latest 50)" : ""}` });
  const box = $("#tasks");
  if (!tasks.length) return fill(box, h("p", { class: "empty" }, t("暂无任务 no tasks")));
  const shown = [...tasks].sort((a, b) => Number(ACTIVE.has(b.status)) - Number(ACTIVE.has(a.status))
    || String(a.priority).localeCompare(String(b.priority)));
  fill(box, shown.map(taskRow));
}

function isOverdue(task) {
  return task.status === "assigned" && task.sign_by && Date.parse(task.sign_by) < Date.now();
}

function taskRow(task) {
  const overdue = isOverdue(task);
  return h("div", {
    class: `task-row ${ACTIVE.has(task.status) ? "" : "closed"}`, role: "button", tabindex: 0,
    title: `${task.id} → alert ${task.alert_id}`, onclick: () => emit("select", task.alert_id),
  },
  h("span", { class: `badge ${String(task.priority).toLowerCase()}` }, task.priority),
  h("span", { class: `tstatus t-${task.status}` }, short(TASK_STATUS, task.status)),
  h("span", { class: "unit-id" }, task.unit_id),
  h("span", { class: "summary-text" }, task.summary || ""),
  h("span", { class: overdue ? "age overdue" : "age muted", "data-ts": task.created_at || task.updated_at },
    age(task.created_at || task.updated_at)),
  task.outcome ? h("span", { class: "outcome" }, short(OUTCOMES, task.outcome)) : null);
}
