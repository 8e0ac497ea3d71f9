// Start-up: the city table, the panels, then the signed-in token (which makes every panel load).

import { loadToken } from "./api.js";
import { lang, setLang, translatePage } from "./i18n.js";
import { initAlerts } from "./alerts.js";
import { initDetail } from "./detail.js";
import { initDispatch } from "./dispatch.js";
import { initHeader, toast } from "./header.js";
import { initIngest } from "./ingest.js";
import { cities } from "./labels.js";
import { initMap } from "./map.js";
import { initEscalation } from "./escalation.js";
import { initViews } from "./views.js";

async function loadGeo() {
  const res = await fetch("/api/geo/cities");
  if (!res.ok) throw new Error(`GET /api/geo/cities: HTTP ${res.status}`);
  const geo = await res.json();
  cities.list = geo.items;
  cities.byCode = new Map(geo.items.map((c) => [c.code, c]));
  return geo;
}

async function start() {
  translatePage();
  const switcher = document.querySelector("#lang");
  switcher.textContent = lang === "en" ? "中文" : "English";
  switcher.addEventListener("click", () => setLang(lang === "en" ? "zh" : "en"));
  initHeader();
  try {
    initMap(await loadGeo());
  } catch (err) {
    toast({ kind: "error", text: `地图不可用 map unavailable: ${err.message}` });
  }
  initAlerts();
  initDetail();
  initDispatch();
  initIngest();
  initEscalation();
  initViews();
  loadToken();
}

start();
