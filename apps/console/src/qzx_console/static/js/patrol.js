// The patrol app: the signed-in officer's unit's tasks by long-poll, and sign / en route / on scene
// / feedback. Offline-safe: every action is queued (in localStorage, with its Idempotency-Key)
// and sent in order; while the network is gone the queue waits, and when it returns it is flushed
// and the task list resynchronised from the cursor. A retried action is never applied twice:
// dispatch answers a repeated Idempotency-Key with the stored response. While the officer is signed
// in, the unit's position is shared (patrol-location.js). Installable: the manifest and a service
// worker (/patrol/sw.js) that keeps the page's shell, so that it opens with no network at all.
// A task's card explains its alert (the factors) and shows its latest events' pictures, which come
// with the task (dispatch hands over the alert's evidence: the camera may be in a district whose
// events the officer may not read) and are kept with it, so that the card still shows them offline
// (the worker keeps the pictures themselves).

import { claims, loadToken, currentToken, signOut } from "./api.js";
import { OUTCOMES, TASK_STATUS, factorText } from "./labels.js";
import { htmlLang } from "./i18n.js";
import { fill, h } from "./dom.js";
import { evidenceList } from "./evidence.js";
import { shareLocation } from "./patrol-location.js";

const STATE_KEY = "qzx.patrol.state"; // {cursor, tasks} of this unit
const QUEUE_KEY = "qzx.patrol.queue"; // [{key, task_id, action, body}]
const LANG_KEY = "qzx.lang";
const DEVICE_KEY = "qzx.patrol.device"; // this installation's id, sent as X-Device-Id (shared-credential detection)
const WAIT_S = 25;
const OPEN = new Set(["assigned", "signed", "en_route", "on_scene"]);
const NEXT = { // status → the actions an officer may take from it
  assigned: ["sign"],
  signed: ["en_route", "on_scene", "feedback"],
  en_route: ["on_scene", "feedback"],
  on_scene: ["feedback"],
};
const ACTION_LABEL = { sign: "签收 Sign", en_route: "出发 En route", on_scene: "到场 On scene", feedback: "反馈 Feedback" };
const LOCATION_LABEL = {
  locating: "正在定位… Locating…",
  shared: "位置已共享 Location shared",
  denied: "未共享位置：定位未获允许 Location not shared: permission denied",
  unavailable: "未共享位置：无法定位 Location not shared: no position",
  offline: "未共享位置：离线 Location not shared: offline",
  off_duty: "未共享位置：不在当班名单 Location not shared: not on the current roster",
  failed: "未共享位置：发送失败 Location not shared: sending failed",
};
const FACTORS_SHOWN = 3; // the strongest reasons; the console has the rest
const ACTION_STATUS = { sign: "signed", en_route: "en_route", on_scene: "on_scene", feedback: "resolved" };
const $ = (sel) => document.querySelector(sel);

let lang = localStorage.getItem(LANG_KEY) || "zh";
let state = { cursor: 0, tasks: {} };
let queue = [];
let flushing = false;
let sharing = { state: "locating", detail: null };

// A bilingual label "中文 English" in the chosen language.
function say(label) {
  const at = label.indexOf(" ");
  if (at < 0) return label;
  return lang === "en" ? label.slice(at + 1) : label.slice(0, at);
}

function load() {
  const me = claims();
  const saved = JSON.parse(localStorage.getItem(STATE_KEY) || "null");
  if (saved && saved.unit_id === me.unit_id) state = saved; // another unit's phone starts afresh
  state.unit_id = me.unit_id;
  delete state.evidence; // what an earlier version kept beside the tasks
  queue = JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]");
}

function save() {
  localStorage.setItem(STATE_KEY, JSON.stringify(state));
  localStorage.setItem(QUEUE_KEY, JSON.stringify(queue));
}

// Kept across sign-ins and reloads: dispatch tells one person's two phones apart by it.
function deviceId() {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id) {
    id = crypto.randomUUID();
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

async function call(method, path, { body, key } = {}) {
  const headers = { Authorization: `Bearer ${currentToken()}`, "X-Device-Id": deviceId() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (key) headers["Idempotency-Key"] = key;
  const res = await fetch(`/api/dispatch${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  if (res.status === 401) signOut();
  const reply = await res.json().catch(() => ({}));
  return { status: res.status, body: reply };
}

async function pollForever() {
  for (;;) {
    try {
      const r = await call("GET", `/v1/patrol/tasks?cursor=${state.cursor}&wait=${WAIT_S}`);
      if (r.status === 200) {
        for (const t of r.body.tasks) state.tasks[t.id] = t;
        state.cursor = r.body.cursor;
        save();
        render();
        continue;
      }
    } catch {
      /* offline or the console is away: try again shortly */
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

function onLocation(state, detail = null) {
  sharing = { state, detail };
  renderLocation();
}

function renderLocation() {
  const el = $("#location");
  el.dataset.state = sharing.state;
  el.className = `location ${sharing.state === "shared" ? "" : "off"}`;
  const label = say(LOCATION_LABEL[sharing.state]);
  if (sharing.state === "shared") el.textContent = `${label} · ${new Date(sharing.detail).toLocaleTimeString()}`;
  else el.textContent = sharing.detail ? `${label} (${sharing.detail})` : label;
}

function enqueue(task, action, body) {
  queue.push({ key: crypto.randomUUID(), task_id: task.id, action, body });
  save();
  render();
  flush();
}

function pathOf(item) {
  const id = encodeURIComponent(item.task_id);
  if (item.action === "sign") return `/v1/patrol/tasks/${id}/sign`;
  if (item.action === "feedback") return `/v1/patrol/tasks/${id}/feedback`;
  return `/v1/patrol/tasks/${id}/status`;
}

// Send the queue in order; stop at the first network failure (the rest waits its turn).
async function flush() {
  if (flushing || !queue.length) return;
  flushing = true;
  try {
    while (queue.length) {
      const item = queue[0];
      let r;
      try {
        r = await call("POST", pathOf(item), { body: item.body, key: item.key });
      } catch {
        break; // offline: flushed when the network returns
      }
      if (r.status >= 500 || r.status === 429) break;
      queue.shift();
      if (r.status === 200) state.tasks[r.body.id] = { ...state.tasks[r.body.id], ...r.body }; // keeps the poll's alert
      else state.errors = { ...(state.errors || {}), [item.task_id]: `${r.body.error || r.status}: ${r.body.detail || ""}` };
      save();
      render();
    }
  } finally {
    flushing = false;
  }
}

// The task as the officer sees it: the server's state with the queued actions applied on top.
function shown(task) {
  const queued = queue.filter((q) => q.task_id === task.id);
  const status = queued.length ? ACTION_STATUS[queued[queued.length - 1].action] : task.status;
  return { ...task, status, queued: queued.length };
}

function render() {
  const online = navigator.onLine;
  const net = $("#net");
  net.className = `net ${online ? "" : "offline"}`;
  net.textContent = online ? say("在线 online") : say("离线 offline");
  const q = $("#queue");
  q.hidden = !queue.length;
  q.textContent = `${say("待发送 queued")}: ${queue.length} · ${say("网络恢复后按序发送 sent in order when the network returns")}`;
  renderLocation();
  const tasks = Object.values(state.tasks).map(shown)
    .filter((t) => OPEN.has(t.status) || t.queued || t.status === "resolved")
    .sort((a, b) => (OPEN.has(b.status) - OPEN.has(a.status)) || String(b.updated_at).localeCompare(String(a.updated_at)));
  if (!tasks.length) return fill($("#tasks"), h("p", { class: "empty" }, say("暂无任务 No tasks")));
  fill($("#tasks"), tasks.slice(0, 20).map(card));
}

function factorLines(t) {
  const alert = t.alert;
  const factors = [...(alert?.factors || [])]
    .sort((a, b) => Math.abs(b.contribution || 0) - Math.abs(a.contribution || 0)).slice(0, FACTORS_SHOWN);
  if (!factors.length) return null;
  return h("ul", { class: "factors" }, factors.map((f) => h("li", { "data-factor": f.name }, factorText(f, alert, lang))));
}

function evidenceOf(t) {
  return evidenceList(t.alert?.evidence, t.alert?.plate || "", lang);
}

function card(t) {
  const ip = t.intercept_point;
  const error = state.errors?.[t.id];
  return h("article", { class: `task ${String(t.priority).toLowerCase()}`, "data-task": t.id, "data-status": t.status },
    h("h3", {}, `${t.priority} · ${t.summary || t.alert_id}`),
    h("div", { class: "status" }, say(TASK_STATUS[t.status] || t.status),
      t.queued ? h("span", { class: "pending" }, ` · ${say("待发送 queued")} ${t.queued}`) : null),
    h("div", { class: "muted" }, `${say("目标 Target")}: ${t.target.lat.toFixed(4)}, ${t.target.lon.toFixed(4)} · ${t.target.admin_code}`),
    ip ? h("div", {}, `${say("拦截点 Intercept")}: ${ip.device_id || ""} (${ip.lat}, ${ip.lon})`) : null,
    factorLines(t),
    OPEN.has(t.status) ? evidenceOf(t) : null,
    t.sign_by && t.status === "assigned" ? h("small", {}, `${say("签收时限 Sign by")}: ${new Date(t.sign_by).toLocaleTimeString()}`) : null,
    t.outcome ? h("div", {}, `${say("结果 Outcome")}: ${say(OUTCOMES[t.outcome] || t.outcome)}`) : null,
    error ? h("div", { class: "error" }, error) : null,
    buttons(t));
}

function buttons(t) {
  const actions = NEXT[t.status] || [];
  const row = h("div", { class: "buttons" });
  for (const action of actions) {
    if (action === "feedback") row.append(feedbackForm(t));
    else row.append(h("button", { type: "button", "data-action": action, onclick: () => enqueue(t, action, action === "sign" ? undefined : { status: action }) }, say(ACTION_LABEL[action])));
  }
  return row;
}

function feedbackForm(t) {
  const outcome = h("select", { name: "outcome" }, Object.entries(OUTCOMES).map(([v, label]) => h("option", { value: v }, say(label))));
  const note = h("textarea", { name: "note", rows: 2, maxlength: 2000, placeholder: say("备注 note") });
  const form = h("form", { class: "feedback", "data-action": "feedback" }, outcome, note, h("button", { type: "submit" }, say(ACTION_LABEL.feedback)));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    enqueue(t, "feedback", { outcome: outcome.value, note: note.value.trim() || null });
  });
  return form;
}

function header() {
  const me = claims();
  $("#who").textContent = me.name || me.sub;
  $("#unit").textContent = `${me.unit_id || "—"} · ${me.sub}`;
  document.documentElement.lang = htmlLang(lang);
  for (const el of document.querySelectorAll("[data-zh]")) el.textContent = lang === "en" ? el.dataset.en : el.dataset.zh;
  $("#lang").textContent = lang === "en" ? "中文" : "EN";
}

function start() {
  loadToken();
  if (!currentToken()) return; // sent to the sign-in page
  if (!claims()?.unit_id) {
    fill($("#tasks"), h("p", { class: "error" }, "此账号不是巡逻警员 this account is not a patrol officer"));
    return;
  }
  // Secure contexts only (https, or 127.0.0.1 in development); without it the page still works online.
  navigator.serviceWorker?.register("/patrol/sw.js", { scope: "/patrol/" }).catch(() => {});
  load();
  header();
  $("#sign-out").addEventListener("click", signOut);
  $("#lang").addEventListener("click", () => {
    lang = lang === "en" ? "zh" : "en";
    localStorage.setItem(LANG_KEY, lang);
    header();
    render();
  });
  window.addEventListener("online", () => { render(); flush(); });
  window.addEventListener("offline", render);
  setInterval(flush, 3000);
  render();
  flush();
  shareLocation((fix) => call("POST", "/v1/patrol/location", { body: fix }), onLocation);
  pollForever();
}

start();
