// Bilingual labels for the contract's enumerations (docs/contract.md).

import { lang, t } from "./i18n.js";

export const VIOLATIONS = {
  drunk_driving: "酒驾醉驾 Drunk driving",
  overload: "超载 Overload",
  street_racing: "飙车 Street racing",
  noise_modified: "炸街改装 Noise/modified",
  speeding: "超速 Speeding",
  red_light: "闯红灯 Red light",
  wrong_way: "逆行 Wrong way",
  fake_plate: "假套牌 Fake plate",
  no_plate: "无牌 No plate",
  ebike_red_light: "电动车闯红灯 E-bike red light",
  ebike_wrong_way: "电动车逆行 E-bike wrong way",
  ebike_overload: "电动车超员 E-bike overload",
};

export const ALERT_STATUS = {
  new: "新 New",
  dispatched: "已派 Dispatched",
  signed: "已签收 Signed",
  resolved: "已办结 Resolved",
  dismissed: "已排除 Dismissed",
  escalated: "已升级 Escalated",
};
export const OPEN_STATUSES = new Set(["new", "dispatched", "signed", "escalated"]);

export const TASK_STATUS = {
  assigned: "已指派 Assigned",
  signed: "已签收 Signed",
  en_route: "途中 En route",
  on_scene: "到场 On scene",
  resolved: "办结 Resolved",
  reassigned: "改派 Reassigned",
  cancelled: "取消 Cancelled",
};

export const OUTCOMES = {
  intercepted: "拦截 Intercepted",
  ticketed: "处罚 Ticketed",
  warned: "警告 Warned",
  not_found: "未发现 Not found",
  false_alarm: "误报 False alarm",
};

export const PRIORITIES = ["P1", "P2", "P3", "P4"];
export const PRIORITY_LABEL = {
  P1: { zh: "P1 特急", en: "P1 urgent" }, P2: { zh: "P2 紧急", en: "P2 high" },
  P3: { zh: "P3 一般", en: "P3 normal" }, P4: { zh: "P4 关注", en: "P4 watch" },
};

export const KINDS = {
  violation: "违法 Violation",
  plate_fraud: "套牌 Plate fraud",
  racing_group: "飙车团伙 Racing group",
  hotlist: "布控 Hotlist",
  hotlist_hit: "布控命中 Hotlist hit",
  accident: "事故 Accident",
};

export const ROLES = {
  province_commander: "省级指挥 province commander",
  city_commander: "市级指挥 city commander",
  dispatcher: "调度员 dispatcher",
  patrol_officer: "民警 patrol officer",
  auxiliary_officer: "辅警 auxiliary",
  auditor: "审计 auditor",
};

// Signs of a shared patrol credential (dispatch's credential events).
export const CREDENTIAL_KINDS = {
  two_devices: "两台设备同时使用 two devices at once",
  off_roster: "不在当班班组 on no crew of the unit",
};

// A code's label in the page language (the code itself when it has none).
export function short(dict, key) {
  const label = dict[key];
  return label ? t(label) : key ?? "";
}

export const cities = { byCode: new Map(), list: [] };

export function cityOf(adminCode) {
  if (!adminCode) return null;
  return cities.byCode.get(`${String(adminCode).slice(0, 4)}00`) || null;
}

// District code -> "历下区 Lixia District", filled from the map's boundaries once they load.
export const districts = new Map();

export function districtName(adminCode) {
  const label = districts.get(String(adminCode || ""));
  return label ? t(label) : "";
}

export function cityName(adminCode) {
  const city = cityOf(adminCode);
  return city ? t(`${city.name_zh} ${city.name}`) : adminCode || "—";
}

export const FACTOR_NAMES = {
  severity: "严重程度 Severity",
  repeat_offender: "累犯 Repeat offender",
  hotlist: "布控 Hotlist",
  night: "夜间 Night",
  hazard: "隐患点 Hazard point",
  vehicle_class: "车辆类型 Vehicle class",
  school_commute: "上下学 School commute",
  priority_floor: "级别下限 Priority floor",
  impossible_travel: "不可能行程 Impossible travel",
  racing_group: "飙车团伙 Racing group",
  direction: "方向 Direction",
  heading_deg: "航向 Heading",
  accident_severity: "事故等级 Accident severity",
  casualties: "伤亡 Casualties",
  major_accident: "重大事故 Major accident",
  road_feature: "道路特征 Road feature",
  ebike_involved: "电动车 E-bike involved",
  rural: "农村道路 Rural road",
};

const VEHICLE_CLASSES = { hazmat: "危化品车辆 hazardous-goods vehicle", bus: "客运大巴 passenger bus", heavy_truck: "重型货车 heavy truck" };

// A factor explained from its code and value (the API's `why` is the English detail): the
// Chinese sentence is built here, so both languages come from the same parameters.
const FACTOR_TEXT = {
  severity: (v, a) => severityText(v, (a.violations || [])[0]),
  repeat_offender: (v) => ({ zh: `该号牌此前违法 ${v} 次`, en: `${v} earlier violation(s) of this plate` }),
  hotlist: (v) => ({ zh: `命中布控名单（${v}）`, en: `on a hotlist (${v})` }),
  night: (v) => ({ zh: `夜间（当地 ${v}）`, en: `at night (${v} local)` }),
  hazard: (v) => ({ zh: `临近隐患点 ${v}`, en: `near hazard point ${v}` }),
  vehicle_class: (v) => ({ zh: (VEHICLE_CLASSES[v] || v).split(" ")[0], en: (VEHICLE_CLASSES[v] || v).split(" ").slice(1).join(" ") || v }),
  school_commute: (v) => ({ zh: `上下学时段电动车载 ${v} 人，可能载有学生`, en: `e-bike with ${v} riders at school commute time` }),
  priority_floor: (v) => ({ zh: `零容忍违法：级别不低于 ${v}`, en: `zero-tolerance floor: at least ${v}` }),
  impossible_travel: (v) => ({ zh: `两地间需 ${v} km/h，疑似套牌`, en: `${v} km/h between sightings: a cloned plate?` }),
  racing_group: (v) => ({ zh: `${v} 辆车结伙飙车`, en: `${v} vehicles racing together` }),
  direction: (v) => ({ zh: `行驶方向 ${v}`, en: `travelling ${v}` }),
  heading_deg: (v) => ({ zh: `航向 ${v}°，在前方卡口拦截`, en: `heading ${v}°: intercept at the checkpoints ahead` }),
};

function severityText(v, violation) {
  const name = VIOLATIONS[violation] ? t(VIOLATIONS[violation]) : violation || "";
  switch (violation) {
    case "drunk_driving":
      return v >= 80
        ? { zh: `醉酒驾驶：血液酒精 ${v} mg/100mL（≥ 80）`, en: `drunk driving: BAC ${v} mg/100mL (≥ 80)` }
        : { zh: `饮酒驾驶：血液酒精 ${v} mg/100mL`, en: `drink driving: BAC ${v} mg/100mL` };
    case "speeding":
      return { zh: `超速 ${v}%`, en: `speeding ${v}% over the limit` };
    case "overload":
    case "ebike_overload":
      if (typeof v === "number" && v > 1000) return { zh: `百吨王：总重 ${v / 1000} 吨`, en: `hundred-ton king: gross ${v / 1000} t` };
      return violation === "ebike_overload"
        ? { zh: `电动车载 ${v} 人`, en: `${v} riders on one e-bike` }
        : { zh: `超载 ${v}%`, en: `${v}% over the weight limit` };
    case "noise_modified":
      return { zh: `改装排气噪声 ${v} dB`, en: `modified exhaust: ${v} dB` };
    default:
      return { zh: name, en: name };
  }
}

export function factorText(factor, alert, language = lang) {
  const make = FACTOR_TEXT[factor.name];
  if (!make) return factor.why || "";
  const text = make(factor.value, alert);
  return language === "en" && factor.why ? factor.why : t(text, language);
}
