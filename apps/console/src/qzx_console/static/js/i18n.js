// The page language: Simplified Chinese first, English on request; the choice persists in
// localStorage. Labels are written bilingually in the source ("中文 English": the Chinese part, a
// space, the English part) or as a {zh, en} pair; the page renders the chosen half.

const KEY = "qzx.lang";
export const LANGS = ["zh", "en"];
export const lang = LANGS.includes(localStorage.getItem(KEY)) ? localStorage.getItem(KEY) : "zh";

// Switching re-renders everything from the codes: the simplest way that never leaves a label
// in the old language is to load the page again.
export function setLang(next) {
  if (!LANGS.includes(next) || next === lang) return;
  localStorage.setItem(KEY, next);
  location.reload();
}

const HAN = /[\u3400-\u9fff\uf900-\ufaff]/;

// "告警 Alerts" → "告警" or "Alerts"; {zh, en} → one of them; text with no Chinese stays as it is.
// `language` is for a page that switches without a reload (the patrol app); others use the page's.
export function t(label, language = lang) {
  if (label === null || label === undefined) return "";
  if (typeof label === "object") return label[language] ?? label.zh ?? label.en ?? "";
  const text = String(label);
  if (!HAN.test(text)) return text;
  const split = splitPair(text);
  if (!split) return text;
  return language === "en" ? split.en : split.zh;
}

// The English part starts at the first space after the last Chinese character and holds no Chinese.
function splitPair(text) {
  let last = -1;
  for (let i = 0; i < text.length; i += 1) if (HAN.test(text[i])) last = i;
  const space = text.indexOf(" ", last);
  if (space < 0) return null;
  const zh = text.slice(0, space).replace(/[\s·]+$/, "");
  const en = text.slice(space + 1).replace(/^[\s·]+/, "");
  return en && /[A-Za-z]/.test(en) ? { zh, en } : null;
}

// Static markup: every element with data-t (or data-t-title, data-t-placeholder, data-t-aria)
// gets the chosen half of that attribute's bilingual text.
export function translatePage(root = document) {
  document.documentElement.lang = htmlLang(lang);
  for (const el of root.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  for (const el of root.querySelectorAll("[data-t-title]")) el.title = t(el.dataset.tTitle);
  for (const el of root.querySelectorAll("[data-t-placeholder]")) el.placeholder = t(el.dataset.tPlaceholder);
  for (const el of root.querySelectorAll("[data-t-aria]")) el.setAttribute("aria-label", t(el.dataset.tAria));
}

export const locale = lang === "en" ? "en-GB" : "zh-CN";

// The page's <html lang>: the fonts, and the date inputs of a browser that follows it, go with it.
export const htmlLang = (language) => (language === "en" ? "en" : "zh-CN");
