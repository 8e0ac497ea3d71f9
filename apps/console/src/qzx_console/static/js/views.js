// The console's pages: the overview (queue, map, detail, dispatch, ingest) and the pages of the
// tabs, chosen by the address (#/hotlists …). A tab is offered only to roles that may use it
// (the services' permission matrix): what a role may not see is not shown.

import { emit, on } from "./api.js";
import { $, fill, h } from "./dom.js";
import { t } from "./i18n.js";
import { may } from "./actions.js";
import * as aid from "./aid.js";
import * as audit from "./audit.js";
import * as dossier from "./dossier.js";
import * as hazards from "./hazards.js";
import * as hotlists from "./hotlists.js";
import * as pending from "./pending.js";
import * as reports from "./reports.js";
import * as shifts from "./shifts.js";
import * as supervision from "./supervision.js";

export const VIEWS = [
  { id: "overview", label: "总览 Overview" },
  { id: "pending", label: "待派 Pending", permission: "tasks:read", page: pending },
  { id: "aid", label: "支援 Mutual aid", permission: "tasks:read", page: aid },
  { id: "hotlists", label: "布控 Hotlists", permission: "hotlists:read", page: hotlists },
  { id: "hazards", label: "隐患 Hazards", permission: "hazards:read", page: hazards },
  { id: "shifts", label: "排班 Shifts", permission: "shifts:plan", page: shifts },
  { id: "reports", label: "报表 Reports", permission: "reports:read", page: reports },
  { id: "dossier", label: "号牌档案 Plate dossier", permission: "alerts:read", page: dossier },
  { id: "audit", label: "审计 Audit", permission: "audit:read", page: audit },
  { id: "supervision", label: "监督 Supervision", permission: "supervision:read", page: supervision },
];
let offered = [];

export function initViews() {
  on("token", async () => {
    const allowed = await Promise.all(VIEWS.map((v) => (v.permission ? may(v.permission) : true)));
    offered = VIEWS.filter((_, i) => allowed[i]);
    fill($("#tabs"), offered.map((v) => h("a", { href: `#/${v.id}`, "data-view": v.id }, t(v.label))));
    show();
  });
  window.addEventListener("hashchange", show);
  on("open-plate", (plate) => location.assign(`#/dossier?plate=${encodeURIComponent(plate)}`));
}

export function currentView() {
  const m = location.hash.match(/^#\/([\w-]+)/);
  const id = m ? m[1] : "overview";
  return offered.find((v) => v.id === id) || offered[0] || VIEWS[0];
}

export function viewParams() {
  const q = location.hash.split("?")[1] || "";
  return new URLSearchParams(q);
}

function show() {
  const view = currentView();
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("active", a.dataset.view === view.id);
  $("#view-overview").hidden = view.id !== "overview";
  for (const v of VIEWS.filter((x) => x.page)) {
    const box = $(`#view-${v.id}`);
    box.hidden = v.id !== view.id;
  }
  if (view.page) view.page.render($(`#view-${view.id}`), viewParams());
  else emit("overview-shown");
}

// A page's common frame: a title, a toolbar, the body.
export function pageFrame(box, title, ...toolbar) {
  const body = h("div", { class: "page-body" });
  fill(box, h("header", { class: "panel-head" }, h("h2", {}, t(title)), h("span", { class: "grow" }), toolbar), body);
  return body;
}
