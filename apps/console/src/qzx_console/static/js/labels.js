// Bilingual labels for the contract's enumerations (docs/contract.md).

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
export const PRIORITY_LABEL = { P1: "P1 特急", P2: "P2 紧急", P3: "P3 一般", P4: "P4 关注" };

export const KINDS = {
  violation: "违法 Violation",
  plate_fraud: "套牌 Plate fraud",
  racing_group: "飙车团伙 Racing group",
  hotlist: "布控 Hotlist",
};

// Short form for dense rows: the Chinese part only.
export function short(dict, key) {
  const label = dict[key];
  return label ? label.split(" ")[0] : key;
}

export const cities = { byCode: new Map(), list: [] };

export function cityOf(adminCode) {
  if (!adminCode) return null;
  return cities.byCode.get(`${String(adminCode).slice(0, 4)}00`) || null;
}

export function cityName(adminCode) {
  const city = cityOf(adminCode);
  return city ? `${city.name_zh} ${city.name}` : adminCode || "—";
}
