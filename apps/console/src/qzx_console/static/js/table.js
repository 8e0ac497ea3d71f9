// A plain table from column definitions: [{label, cell: (row) => node|text, class}].

import { fill, h } from "./dom.js";
import { t } from "./i18n.js";

export function table(columns, rows, { empty = "暂无数据 nothing to show", rowClass } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, t(empty));
  return h("table", { class: "data" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.class }, t(c.label))))),
    h("tbody", {}, rows.map((r) => h("tr", { class: rowClass ? rowClass(r) : null },
      columns.map((c) => h("td", { class: c.class }, c.cell(r)))))));
}

// Renders `load()`'s result with `draw`, or the error in its place.
export async function loading(box, load, draw, errorView) {
  fill(box, h("p", { class: "empty" }, t("加载中 loading…")));
  try {
    fill(box, draw(await load()));
  } catch (err) {
    fill(box, errorView(err));
  }
}

export function csv(rows) {
  const cell = (v) => {
    if (typeof v === "number") return String(v);
    let s = v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
    if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`; // a spreadsheet never runs a cell as a formula
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return `\ufeff${rows.map((r) => r.map(cell).join(",")).join("\r\n")}\r\n`;
}

export function download(name, text, type = "text/csv;charset=utf-8") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
