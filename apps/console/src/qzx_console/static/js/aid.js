// Mutual aid (GET/POST /v1/dispatch/mutual-aid): a dispatcher proposes a neighbouring city's unit
// for an alert that waits (the pending queue links here with the alert filled in); a commander who
// sees the unit's city accepts or declines, each with a reason; both cities see the proposal, its
// decision and the task it made. What a role may not do is not offered.

import { api, emit } from "./api.js";
import { clockTime, errorBox, fill, h, notAvailable } from "./dom.js";
import { t } from "./i18n.js";
import { cityName } from "./labels.js";
import { may } from "./actions.js";
import { table } from "./table.js";
import { pageFrame } from "./views.js";

const EVERY_MS = 5000;
const STATE = { proposed: "待决 Proposed", accepted: "已接受 Accepted", declined: "已拒绝 Declined" };
let timer = null;

export async function render(box, params) {
  const count = h("span", { class: "muted" });
  const body = pageFrame(box, "跨市支援 Mutual aid", count);
  const [propose, decide] = await Promise.all([may("tasks:reassign"), may("mutual_aid:accept")]);
  const list = h("div", {});
  const refresh = async () => {
    if (box.hidden) return clearInterval(timer);
    try {
      const page = await api("dispatch", "/v1/dispatch/mutual-aid", { query: { limit: 100 } });
      count.textContent = `${page.items.length}`;
      fill(list, table(columns(decide, refresh), page.items, {
        empty: "暂无支援请求 no mutual-aid proposals", rowClass: (r) => `aid-${r.state}`,
      }));
    } catch (err) {
      count.textContent = "";
      fill(list, err.unavailable ? notAvailable(t("调度服务 dispatch"), err) : errorBox(err, "GET /v1/dispatch/mutual-aid"));
    }
  };
  fill(body, propose ? proposeForm(params.get("alert") || "", refresh) : null, list);
  clearInterval(timer);
  refresh();
  timer = setInterval(refresh, EVERY_MS);
}

function proposeForm(alertId, reload) {
  const result = h("div", {});
  const form = h("form", { class: "inline-form", "data-action": "aid-propose" },
    h("h4", {}, t("请求邻市警力 Ask a neighbouring city for a unit")),
    h("input", { name: "alert_id", placeholder: t("告警编号 alert id"), required: true, value: alertId || null }),
    h("input", { name: "unit_id", placeholder: t("邻市警力编号 the other city's unit id"), required: true }),
    h("input", { name: "reason", placeholder: t("理由 reason"), required: true, minlength: 3, maxlength: 500 }),
    h("button", { type: "submit" }, t("提出 Propose")), result);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = form.elements;
    const body = { alert_id: f.alert_id.value.trim(), unit_id: f.unit_id.value.trim(), reason: f.reason.value.trim() };
    try {
      await api("dispatch", "/v1/dispatch/mutual-aid", { method: "POST", body });
      form.reset();
      fill(result);
      emit("toast", { kind: "ok", text: `${t("已请求支援 aid proposed")}: ${body.unit_id}` });
      reload();
    } catch (err) {
      fill(result, errorBox(err, "POST /v1/dispatch/mutual-aid"));
    }
  });
  return form;
}

// Accept or decline, with a reason: offered on a proposal still open, to a commander.
function decision(aid, reload) {
  const reason = h("input", { name: "reason", placeholder: t("理由 reason"), required: true, minlength: 3, maxlength: 500 });
  const result = h("span", {});
  const form = h("form", { class: "inline-form compact", "data-action": "aid-decide" }, reason,
    h("button", { type: "submit", value: "accept" }, t("接受 Accept")),
    h("button", { type: "submit", value: "decline", class: "ghost" }, t("拒绝 Decline")), result);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const verb = e.submitter?.value === "decline" ? "decline" : "accept";
    try {
      await api("dispatch", `/v1/dispatch/mutual-aid/${encodeURIComponent(aid.id)}/${verb}`,
        { method: "POST", body: { reason: reason.value.trim() } });
      reload();
    } catch (err) {
      fill(result, errorBox(err, `POST …/${verb}`));
    }
  });
  return form;
}

function columns(decide, reload) {
  return [
    { label: "状态 State", cell: (r) => h("span", { class: `badge aid-${r.state}` }, t(STATE[r.state] || r.state)) },
    { label: "告警 Alert", class: "mono", cell: (r) => h("a", { href: `#alert=${encodeURIComponent(r.alert_id)}`, onclick: () => setTimeout(() => emit("select", r.alert_id)) }, r.alert_id) },
    { label: "求援城市 Asking city", cell: (r) => cityName(r.alert_admin_code) },
    { label: "警力 Unit", class: "mono", cell: (r) => r.unit_id },
    { label: "警力城市 Unit's city", cell: (r) => cityName(r.unit_admin_code) },
    { label: "理由 Reason", cell: (r) => `${r.reason} (${r.proposed_by})` },
    { label: "决定 Decision", cell: (r) => (r.state === "proposed"
      ? (decide ? decision(r, reload) : t("待邻市指挥决定 awaiting the unit's commander"))
      : `${r.decision_reason || "—"} (${r.decided_by || "—"}${r.decided_at ? `, ${clockTime(r.decided_at)}` : ""})`) },
    { label: "任务 Task", class: "mono", cell: (r) => r.task_id || "—" },
    { label: "提出 Proposed", class: "mono", cell: (r) => clockTime(r.created_at) },
  ];
}
