// DOM building and formatting helpers. Everything is built with textContent: data from cameras
// and partners never becomes markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  // A date input takes its display format from its language when its type is set, before it is in
  // the page: give it the page's, so a browser that follows the language shows 年/月/日 order.
  if (tag === "input" && String(attrs?.type).startsWith("date")) el.lang = document.documentElement.lang;
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

// A visible error in place of a panel's content: {"error","detail"} bodies are shown as they are.
export function errorBox(err, what) {
  return h("div", { class: "error-box" },
    h("strong", {}, what ? `${what}: ` : "", err.code || "error"),
    h("span", {}, err.detail || err.message || String(err)));
}

export function notAvailable(what, err) {
  return h("div", { class: "na-box" },
    h("strong", {}, "暂不可用 not available"),
    h("span", {}, `${what} — ${err.status ? `HTTP ${err.status} ` : ""}${err.detail || err.message || ""}`));
}

export function age(iso, now = Date.now()) {
  if (!iso) return "—";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}`;
  return `${Math.floor(s / 86400)}d`;
}

export function clockTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleTimeString("zh-CN", { hour12: false });
}

export function dateTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.toLocaleDateString("zh-CN")} ${d.toLocaleTimeString("zh-CN", { hour12: false })}`;
}

export function num(value, digits = 0) {
  return typeof value === "number" ? value.toFixed(digits) : value ?? "—";
}
