// Sign-in: the console asks the identity provider for this person's token; the page keeps it in
// its session storage (the same key api.js reads) and goes where it was sent from.

import { htmlLang } from "./i18n.js";

const TOKEN_KEY = "qzx.console.token";
const LANG_KEY = "qzx.lang";
const $ = (sel) => document.querySelector(sel);

function applyLanguage(lang) {
  document.documentElement.lang = htmlLang(lang);
  for (const el of document.querySelectorAll("[data-zh]")) el.textContent = el.dataset[lang] || el.dataset.zh;
  $("#lang").textContent = lang === "en" ? "中文" : "English";
}

function target() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") ? next : "/"; // never another site
}

let lang = localStorage.getItem(LANG_KEY) || "zh";
applyLanguage(lang);
$("#lang").addEventListener("click", () => {
  lang = lang === "en" ? "zh" : "en";
  localStorage.setItem(LANG_KEY, lang);
  applyLanguage(lang);
});

$("#sign-in").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("#error").textContent = "";
  $("#submit").disabled = true;
  try {
    const res = await fetch("/auth/sign-in", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: $("#username").value.trim(), password: $("#password").value }),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.detail || `HTTP ${res.status}`);
    sessionStorage.setItem(TOKEN_KEY, body.token);
    location.assign(target());
  } catch (err) {
    $("#error").textContent = err.message;
  } finally {
    $("#submit").disabled = false;
  }
});
