// The province map: an inline SVG in an equirectangular projection (x scaled by cos of the mid
// latitude), with the 16 cities, the alerts as dots by priority and the units as squares.

import { emit, on } from "./api.js";
import { $ } from "./dom.js";
import { OPEN_STATUSES, cities, cityName } from "./labels.js";
import { store, visibleAlerts } from "./alerts.js";

const NS = "http://www.w3.org/2000/svg";
const SCALE = 100; // SVG units per degree of latitude
// A simplified outline of Shandong (lon, lat), for orientation only.
const OUTLINE = [
  [117.8, 38.25], [117.35, 38.05], [116.9, 37.85], [116.4, 37.6], [116.05, 37.25], [115.7, 36.85],
  [115.4, 36.5], [115.45, 36.15], [115.9, 36.0], [115.45, 35.75], [114.85, 35.35], [115.05, 34.95],
  [115.5, 34.55], [116.2, 34.6], [116.65, 34.55], [117.2, 34.45], [117.8, 34.5], [118.35, 34.4],
  [118.7, 34.7], [119.0, 34.9], [119.3, 35.05], [119.55, 35.4], [119.8, 35.6], [120.05, 35.85],
  [120.25, 36.0], [120.4, 36.05], [120.7, 36.15], [120.95, 36.4], [121.25, 36.65], [121.7, 36.85],
  [122.05, 36.9], [122.45, 36.95], [122.7, 37.4], [122.4, 37.5], [122.1, 37.55], [121.7, 37.5],
  [121.4, 37.58], [121.05, 37.7], [120.75, 37.82], [120.35, 37.7], [120.0, 37.5], [119.85, 37.2],
  [119.4, 37.1], [119.05, 37.15], [118.95, 37.4], [119.2, 37.75], [118.95, 38.05], [118.55, 38.1],
  [118.1, 38.2],
];

let bounds = { lat_min: 34.3, lat_max: 38.5, lon_min: 114.6, lon_max: 122.8 };
let kx = Math.cos((36.4 * Math.PI) / 180);
let layers = null;
let units = [];
let queued = false;

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, v);
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const x = (lon) => ((lon - bounds.lon_min) * kx * SCALE).toFixed(1);
const y = (lat) => ((bounds.lat_max - lat) * SCALE).toFixed(1);

export function initMap(geo) {
  bounds = geo.bounds;
  kx = Math.cos((((bounds.lat_min + bounds.lat_max) / 2) * Math.PI) / 180);
  const svg = $("#map");
  const w = (bounds.lon_max - bounds.lon_min) * kx * SCALE;
  const hgt = (bounds.lat_max - bounds.lat_min) * SCALE;
  svg.setAttribute("viewBox", `0 0 ${w.toFixed(0)} ${hgt.toFixed(0)}`);
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
  layers = { units: s("g", { class: "units-layer" }), alerts: s("g", { class: "alerts-layer" }) };
  svg.replaceChildren(graticule(), s("polygon", { class: "province", points: OUTLINE.map(([lo, la]) => `${x(lo)},${y(la)}`).join(" ") }),
    layers.units, layers.alerts, cityLayer(), s("text", { x: 8, y: hgt - 8, class: "map-note" }, "示意图 schematic · 山东省 Shandong"));
  on("alerts", schedule);
  on("select", schedule);
  on("units", (list) => {
    units = list;
    drawUnits();
  });
}

function graticule() {
  const g = s("g", { class: "graticule" });
  for (let lat = Math.ceil(bounds.lat_min); lat <= bounds.lat_max; lat += 1) {
    g.append(s("line", { x1: 0, x2: x(bounds.lon_max), y1: y(lat), y2: y(lat) }),
      s("text", { x: 4, y: Number(y(lat)) - 3 }, `${lat}°N`));
  }
  for (let lon = Math.ceil(bounds.lon_min); lon <= bounds.lon_max; lon += 1) {
    g.append(s("line", { x1: x(lon), x2: x(lon), y1: 0, y2: y(bounds.lat_min) }),
      s("text", { x: Number(x(lon)) + 3, y: 12 }, `${lon}°E`));
  }
  return g;
}

function cityLayer() {
  const g = s("g", { class: "cities" });
  for (const c of cities.list) {
    g.append(s("g", { class: "city" },
      s("circle", { cx: x(c.lon), cy: y(c.lat), r: 3.2 }),
      s("text", { x: Number(x(c.lon)) + 6, y: Number(y(c.lat)) + 4 }, c.name_zh,
        s("tspan", { class: "en" }, ` ${c.name}`)),
      s("title", {}, `${c.code} ${c.name_zh} ${c.name}`)));
  }
  return g;
}

function schedule() {
  if (queued) return;
  queued = true;
  requestAnimationFrame(() => {
    queued = false;
    drawAlerts();
  });
}

function drawAlerts() {
  if (!layers) return;
  const shown = visibleAlerts().filter((a) => a.location && typeof a.location.lat === "number");
  // Least urgent first so that P1 dots are drawn on top.
  shown.sort((a, b) => String(b.priority).localeCompare(String(a.priority)));
  layers.alerts.replaceChildren(...shown.map((a) => {
    const p = String(a.priority || "P4").toLowerCase();
    const open = OPEN_STATUSES.has(a.status);
    const dot = s("circle", {
      cx: x(a.location.lon), cy: y(a.location.lat), r: { p1: 5.5, p2: 4.5, p3: 3.8, p4: 3.2 }[p] || 4,
      class: `adot ${p} ${open ? "" : "closed"} ${a.status === "new" && p === "p1" ? "pulse" : ""} ${a.id === store.selected ? "selected" : ""}`,
    }, s("title", {}, `${a.priority} ${a.plate || ""} ${(a.violations || []).join(", ")} · ${cityName(a.admin_code)} · ${a.status}`));
    dot.addEventListener("click", () => emit("select", a.id));
    return dot;
  }));
}

function drawUnits() {
  if (!layers) return;
  layers.units.replaceChildren(...units.filter((u) => typeof u.lat === "number" && typeof u.lon === "number").map((u) =>
    s("rect", {
      x: Number(x(u.lon)) - 2.5, y: Number(y(u.lat)) - 2.5, width: 5, height: 5,
      class: `unit u-${u.board_status || "unknown"} ${u.live ? "live" : ""}`,
    }, s("title", {}, `${u.call_sign || u.id} · ${u.board_status || ""}${u.live ? " · live" : " · home base"}`))));
}
