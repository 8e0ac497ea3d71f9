// The header: counters, service health, clock, the token in use, and toasts.

import { locale, t } from "./i18n.js";
import { claims, currentToken, on, signOut } from "./api.js";
import { $, fill, h } from "./dom.js";
import { OPEN_STATUSES, PRIORITIES, ROLES, short } from "./labels.js";

const SERVICES = ["ingest", "alerts", "dispatch"];
let dlq = null;
let lastStore = null;
let shownCounts = "";

export function initHeader() {
  on("alerts", (store) => {
    lastStore = store;
    renderCounters();
  });
  on("dlq", (value) => {
    dlq = value;
    renderCounters();
  });
  on("token", renderWho);
  on("toast", toast);
  renderCounters();
  wireTokenForm();
  tickClock();
  setInterval(tickClock, 1000);
  checkServices();
  setInterval(checkServices, 5000);
  setInterval(renderWho, 30000);
}

function renderCounters() {
  const open = { P1: 0, P2: 0, P3: 0, P4: 0 };
  for (const a of lastStore ? lastStore.alerts.values() : []) {
    if (OPEN_STATUSES.has(a.status) && a.priority in open) open[a.priority] += 1;
  }
  const counts = `${Boolean(lastStore)}|${Object.values(open)}|${dlq?.count}|${dlq?.more}`;
  if (counts === shownCounts) return; // asked once a frame while the stream runs: most change nothing
  shownCounts = counts;
  fill($("#counters"),
    PRIORITIES.map((p) => h("div", { class: `counter ${p.toLowerCase()}`, title: `open ${p} alerts among those loaded` },
      h("b", {}, lastStore ? open[p] : "–"), h("span", {}, t({ zh: `${p} 在办`, en: `${p} open` })))),
    h("div", { class: "counter dlq", title: "dead letters (first page)" },
      h("b", {}, dlq ? `${dlq.count}${dlq.more ? "+" : ""}` : "–"), h("span", {}, t("死信 DLQ"))));
}

async function checkServices() {
  const results = await Promise.all(SERVICES.map(async (name) => {
    try {
      const res = await fetch(`/api/${name}/readyz`, { cache: "no-store" });
      return [name, res.ok ? "up" : res.status === 503 ? "degraded" : "down", `HTTP ${res.status}`];
    } catch (err) {
      return [name, "down", err.message];
    }
  }));
  fill($("#services"), results.map(([name, state, why]) =>
    h("span", { class: `svc ${state}`, title: `${name}: ${state} (${why})` }, h("i"), name)));
}

function tickClock() {
  const now = new Date();
  fill($("#clock"), h("b", {}, now.toLocaleTimeString(locale, { hour12: false })),
    h("small", {}, now.toLocaleDateString(locale, { year: "numeric", month: "2-digit", day: "2-digit", weekday: "short" })));
}

function renderWho() {
  const el = $("#token-who");
  const c = currentToken() ? claims() : null;
  if (!c) {
    el.className = "who bad";
    el.textContent = currentToken() ? t("无法解析令牌 unreadable token") : t("无令牌 no token");
    return;
  }
  const left = c.exp ? c.exp * 1000 - Date.now() : null;
  const expiry = left === null ? "no exp" : left <= 0 ? t("已过期 expired") : `${Math.floor(left / 3600000)}h${String(Math.floor((left % 3600000) / 60000)).padStart(2, "0")} left`;
  el.className = `who ${left !== null && left <= 0 ? "bad" : ""}`;
  fill(el, h("b", {}, short(ROLES, c.role)),
    h("small", {}, `${t("辖区 jur")} ${c.jur} · ${c.sub}${c.unit_id ? ` · ${c.unit_id}` : ""} · ${expiry}`));
  el.title = `${c.role} · jur ${c.jur} · sub ${c.sub} · ${expiry}`;
}

function wireTokenForm() {
  $("#sign-out").addEventListener("click", signOut);
}

export function toast({ kind = "info", text }) {
  const el = h("div", { class: `toast ${kind}`, title: t("点击关闭 click to dismiss"), onclick: () => el.remove() }, text);
  $("#toasts").append(el);
  setTimeout(() => el.remove(), kind === "error" ? 9000 : 4000);
}
