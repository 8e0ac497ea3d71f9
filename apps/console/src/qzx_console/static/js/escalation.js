// The escalation banner (with a sound): a P1 never waits silently. It shows
// - dispatch's escalations (a P1 pending too long, a missed sign-by, a missed feedback deadline),
//   live from GET /v1/dispatch/escalations/stream?since=… (the last SINCE_MS first; polled from
//   GET /v1/dispatch/escalations only from a dispatch without the stream);
// - tasks escalated by hand (a dispatcher's escalation), polled from GET /v1/tasks?escalated=true;
// - escalation events pushed on the alert stream (event `escalation`), should alerts relay them;
// - P1 alerts still `new` (no unit) for longer than P1_WAIT_S, from the live store.
// Acknowledging hides what is shown until something new arrives.

import { api, emit, on, openStream } from "./api.js";
import { $, age, fill, h } from "./dom.js";
import { t } from "./i18n.js";
import { cityName } from "./labels.js";
import { may } from "./actions.js";

export const P1_WAIT_S = 60;
const EVERY_MS = 5000;
const MUTE_KEY = "qzx.console.mute";
const items = new Map(); // key -> {key, kind, text, at, alert_id}
const acknowledged = new Set();
let audio = null;
let muted = localStorage.getItem(MUTE_KEY) === "1";
let polling = null;
let stream = null;
let listPolled = false; // dispatch without the stream: its list is polled instead
let served = false; // dispatch raises p1_waiting itself: the page's own P1 watch then stands down

export function initEscalation() {
  on("token", async () => {
    items.clear();
    clearInterval(polling);
    stream?.close();
    stream = null;
    listPolled = false;
    if (!(await may("tasks:read"))) return render();
    openEscalations();
    pollTasks();
    polling = setInterval(pollTasks, EVERY_MS);
  });
  on("alerts", (store) => waitingP1s(store));
  on("escalation", (event) => {
    const id = event.id || event.task_id || event.alert_id;
    add({ key: `event:${id}:${event.reason || event.kind || ""}`, kind: event.kind || "escalation", alert_id: event.alert_id,
      text: `${event.priority || ""} ${event.reason || event.kind || t("升级 escalation")} · ${event.unit_id || ""}`, at: event.at || new Date().toISOString() });
  });
  setInterval(render, 1000);
}

export const ESCALATION_KINDS = {
  p1_waiting: "P1 待派超时 P1 waiting", sign_missed: "签收超时 sign-for missed", feedback_missed: "反馈超时 feedback missed",
};
const SINCE_MS = 30 * 60 * 1000; // what a console opened now still shows

function openEscalations() {
  const since = new Date(Date.now() - SINCE_MS).toISOString();
  stream = openStream("dispatch", `/v1/dispatch/escalations/stream?since=${encodeURIComponent(since)}`, {
    onEvent(type, data) {
      if (type !== "escalation") return;
      try {
        addEscalation(JSON.parse(data));
      } catch (err) {
        console.warn("unreadable escalation event", err, data);
      }
    },
    onState(kind, detail) {
      if (kind === "live") served = true;
      if (kind === "error" && (detail?.status === 404 || detail?.status === 405)) {
        stream.close(); // an older dispatch: poll its list
        listPolled = true;
      }
    },
  });
}

// Keyed by the escalation's id: a repeat (the stream resumed, or the list read again) changes nothing.
function addEscalation(e) {
  const unit = e.unit_id || e.detail?.unit_id;
  const label = t(ESCALATION_KINDS[e.kind] || e.kind);
  const priority = e.priority && !label.startsWith(e.priority) ? `${e.priority} ` : ""; // not "P1 P1 waiting"
  add({ key: `escalation:${e.id}`, kind: e.kind, alert_id: e.alert_id, at: e.at,
    text: `${priority}${label}${unit ? ` · ${unit}` : ""}${e.reason ? ` · ${e.reason}` : ""}` });
}

async function pollEscalations() {
  try {
    const since = new Date(Date.now() - SINCE_MS).toISOString();
    const page = await api("dispatch", "/v1/dispatch/escalations", { query: { since, limit: 50 } });
    served = true;
    for (const e of page.items) addEscalation(e);
  } catch {
    /* dispatch down: the other sources still count */
  }
}

async function pollTasks() {
  if (listPolled) pollEscalations();
  try {
    const page = await api("dispatch", "/v1/tasks", { query: { escalated: "true", limit: 20 } });
    for (const task of page.items) {
      if (!["assigned", "signed", "en_route", "on_scene"].includes(task.status)) continue;
      add({ key: `task:${task.id}`, kind: "task", alert_id: task.alert_id, at: task.updated_at || task.created_at,
        text: `${task.priority} ${task.summary || task.id} · ${task.unit_id}${task.reason ? ` · ${task.reason}` : ""}` });
    }
  } catch {
    /* dispatch down: the header's service light says so */
  }
}

function waitingP1s(store) {
  let changed = false;
  if (served) {
    for (const key of items.keys()) if (key.startsWith("p1:")) changed = items.delete(key) || changed;
    if (changed) render();
    return;
  }
  const now = Date.now();
  for (const a of store.alerts.values()) {
    const key = `p1:${a.id}`;
    const waiting = a.priority === "P1" && a.status === "new" && now - Date.parse(a.first_seen) > P1_WAIT_S * 1000;
    if (waiting && !items.has(key)) {
      add({ key, kind: "p1_waiting", alert_id: a.id, at: a.first_seen,
        text: `P1 ${a.plate || ""} · ${cityName(a.admin_code)} · ${t("无警力接警 waiting for a unit")}` });
    } else if (!waiting && items.has(key)) {
      changed = items.delete(key);
    }
  }
  if (changed) render(); // asked once a frame while the stream runs: redrawn only when it changed
}

let fresh = [];
let notifyQueued = null;

function add(item) {
  if (!items.has(item.key) && !acknowledged.has(item.key)) fresh.push(item);
  items.set(item.key, item);
  // One sound and one toast for what arrived together (a page's first load finds many at once).
  notifyQueued = notifyQueued || setTimeout(notify, 300);
  renderSoon();
}

let renderQueued = false;
function renderSoon() { // a first load adds many at once: one banner for all of them
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

function notify() {
  notifyQueued = null;
  if (!fresh.length) return;
  beep();
  const text = fresh.length === 1 ? fresh[0].text : t({ zh: `${fresh.length} 条新升级`, en: `${fresh.length} new escalations` });
  emit("toast", { kind: "error", text: `${t("升级告警 escalation")}: ${text}` });
  fresh = [];
}

function render() {
  const banner = $("#escalation");
  const open = [...items.values()].filter((i) => !acknowledged.has(i.key));
  banner.hidden = open.length === 0;
  if (!open.length) return;
  open.sort((a, b) => String(b.at).localeCompare(String(a.at))); // the newest first
  fill(banner,
    h("b", {}, `⚠ ${t("升级 Escalation")} (${open.length})`),
    h("span", { class: "items" }, open.slice(0, 3).map((i) => h("a", {
      href: i.alert_id ? `#alert=${encodeURIComponent(i.alert_id)}` : null, "data-kind": i.kind,
      onclick: () => i.alert_id && setTimeout(() => emit("select", i.alert_id)),
    }, `${i.text} · ${age(i.at)}`)), open.length > 3 ? h("span", {}, `+${open.length - 3}`) : null),
    h("button", { type: "button", class: "ghost", onclick: toggleMute }, muted ? t("静音 muted") : t("提示音 sound on")),
    h("button", { type: "button", "data-action": "acknowledge", onclick: () => { for (const i of open) acknowledged.add(i.key); render(); } }, t("知悉 Acknowledge")));
}

function toggleMute() {
  muted = !muted;
  localStorage.setItem(MUTE_KEY, muted ? "1" : "0");
  render();
}

// Two short tones from WebAudio: no sound file to ship, and nothing plays before a person has
// touched the page (the browser's autoplay rule), which is when the console is staffed anyway.
function beep() {
  if (muted) return;
  try {
    audio = audio || new AudioContext();
    const now = audio.currentTime;
    for (const [i, freq] of [880, 660].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.15, now + i * 0.25);
      gain.gain.exponentialRampToValueAtTime(0.001, now + i * 0.25 + 0.22);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.25);
      osc.stop(now + i * 0.25 + 0.23);
    }
    document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
  } catch {
    /* no audio device */
  }
}
