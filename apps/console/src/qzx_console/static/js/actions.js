// A dispatcher's actions on the selected alert, each with a reason: dispatch to a unit picked from
// dispatch's ranked recommendations (with their figures and why the alert waits), reassign or
// escalate the active task, dismiss. What the signed-in role may not do is not offered (the services' matrix,
// served by the console at /api/permissions).

import { t } from "./i18n.js";
import { api, claims, emit } from "./api.js";
import { errorBox, fill, h, num } from "./dom.js";

let matrix = null;

export async function may(action) {
  if (!matrix) {
    const res = await fetch("/api/permissions");
    matrix = res.ok ? await res.json() : {};
  }
  const role = claims()?.role;
  return Boolean(role && (matrix[action] || []).includes(role));
}

const CLOSED_ALERT = new Set(["resolved", "dismissed"]);

// The actions section for one alert: `task` is its task (or null), `reload` shows it again.
export async function actionsFor(alert, task, reload) {
  const box = h("div", { class: "actions" });
  if (CLOSED_ALERT.has(alert.status)) return box;
  const [dispatch, dismiss] = await Promise.all([may("tasks:reassign"), may("alerts:dismiss")]);
  const active = task && ["assigned", "signed", "en_route", "on_scene"].includes(task.status);
  if (dispatch) box.append(recommendationsForm(alert, active ? task : null, reload));
  if (dispatch && active && !task.escalated) box.append(escalateForm(task, reload));
  if (dismiss) box.append(dismissForm(alert, reload));
  return box;
}

function reasonInput(placeholder) {
  return h("input", { name: "reason", placeholder, minlength: 3, maxlength: 500, required: true });
}

function recommendationsForm(alert, task, reload) {
  const list = h("div", { class: "recs" }, h("p", { class: "muted" }, t("加载推荐 loading recommendations…")));
  const reason = reasonInput(task ? t("改派理由 reason for reassigning") : t("派警理由 reason for dispatching"));
  const result = h("div", {});
  const verb = task ? t("改派 Reassign") : t("派警 Dispatch");
  const form = h("form", { class: "dispatch-form", "data-action": task ? "reassign" : "dispatch" },
    h("h4", {}, task ? t("改派 Reassign the task") : t("派警 Dispatch from the recommendations")), list, reason,
    h("button", { type: "submit" }, verb), result);
  loadRecommendations(alert, list, Boolean(task));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const unit = form.querySelector("input[name=unit]:checked")?.value || null;
    try {
      if (task) {
        await api("dispatch", `/v1/tasks/${encodeURIComponent(task.id)}/reassign`,
          { method: "POST", body: { reason: reason.value.trim(), unit_id: unit } });
      } else {
        if (!unit) return fill(result, h("p", { class: "error" }, t("请选择警力 pick a unit")));
        await api("dispatch", "/v1/dispatch",
          { method: "POST", body: { alert_id: alert.id, unit_id: unit, reason: reason.value.trim() } });
      }
      emit("toast", { kind: "ok", text: `${verb}: ${alert.plate || alert.id} → ${unit || t("次优 next best")}` });
      reload();
    } catch (err) {
      fill(result, errorBox(err, verb));
    }
  });
  return form;
}

async function loadRecommendations(alert, box, optional) {
  let rec;
  try {
    rec = await api("dispatch", `/v1/dispatch/recommendations/${encodeURIComponent(alert.id)}`);
  } catch (err) {
    return fill(box, errorBox(err, "GET /v1/dispatch/recommendations"));
  }
  const rows = rec.ranked.map((r, i) => h("label", { class: "rec" },
    h("input", { type: "radio", name: "unit", value: r.unit_id, checked: i === 0 && !optional }),
    h("b", {}, r.unit_id),
    h("span", {}, ` ${num(r.travel_s / 60, 1)} ${t("分钟 min")} · ${t("负荷 workload")} ${r.workload}`),
    r.intercept_device_id ? h("span", { class: "muted" }, ` · ${t("拦截 intercept")} ${r.intercept_device_id}${r.in_time ? " ✓" : ""}`) : null,
    i === 0 ? h("span", { class: "badge ok" }, t("最佳 best")) : null));
  fill(box,
    rec.waiting_reason ? h("p", { class: "waiting" }, t("等待原因 Waiting: "), rec.waiting_reason) : null,
    h("p", { class: "muted" }, `${t("所需 needs")}: ${rec.needs.join(", ") || "—"}${rec.enforcement ? t(" · 须民警 sworn officer") : ""}`),
    rows.length ? rows : h("p", { class: "error" }, t("无可派警力 no unit: "), rec.no_unit_reason || ""),
    rec.reserved.map((r) => h("div", { class: "small muted" }, `${r.unit_id} ${t("保留 held back")}: ${r.why}`)),
    Object.entries(rec.excluded).map(([why, n]) => h("div", { class: "small muted" }, `${n} × ${why}`)),
    optional && rows.length ? h("p", { class: "small muted" }, t("不选则由系统选次优 none picked: the next best")) : null);
}

function escalateForm(task, reload) {
  const reason = reasonInput(t("升级理由 reason for escalating"));
  const result = h("div", {});
  const form = h("form", { class: "escalate", "data-action": "escalate" }, reason,
    h("button", { type: "submit", class: "danger" }, t("升级 Escalate")), result);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("dispatch", "/v1/dispatch/escalate", { method: "POST", body: { task_id: task.id, reason: reason.value.trim() } });
      emit("toast", { kind: "ok", text: `${t("已升级 escalated")} ${task.id}` });
      reload();
    } catch (err) {
      fill(result, errorBox(err, "escalate"));
    }
  });
  return form;
}

function dismissForm(alert, reload) {
  const reason = reasonInput(t("排除理由 reason for dismissing"));
  const result = h("div", {});
  const form = h("form", { class: "dismiss" }, reason, h("button", { type: "submit", class: "danger" }, t("排除 Dismiss")), result);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const updated = await api("alerts", `/v1/alerts/${encodeURIComponent(alert.id)}/dismiss`,
        { method: "POST", body: { reason: reason.value.trim() } });
      emit("toast", { kind: "ok", text: `${t("已排除 dismissed")} ${alert.plate || alert.id}` });
      if (updated && updated.id) emit("alert-changed", updated);
      reload();
    } catch (err) {
      fill(result, errorBox(err, "dismiss"));
    }
  });
  return form;
}
