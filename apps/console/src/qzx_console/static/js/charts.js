// Charts with the vendored ECharts (/static/vendor/echarts), loaded on the first chart so that
// the console's first load does not parse 700 kB it may never use; one dark theme.

import { h } from "./dom.js";

const TEXT = "#9fb4d8";
const LINE = "#1c2e4d";
export const PALETTE = ["#35c9ff", "#ff9a2e", "#3ddc84", "#ff4d5e", "#f2d43a", "#8a5cff", "#4aa8ff", "#ff7ab8"];

export function chart(option, { height = 260 } = {}) {
  const el = h("div", { class: "chart", style: { height: `${height}px` } });
  loadECharts().then((echarts) => {
    if (!el.isConnected) return; // drawn once the element is in the page (ECharts needs its size)
    const c = echarts.init(el, null, { renderer: "canvas" });
    c.setOption({
      color: PALETTE, backgroundColor: "transparent", animation: false,
      textStyle: { color: TEXT, fontFamily: "inherit" },
      grid: { left: 44, right: 16, top: 36, bottom: 28 },
      tooltip: { trigger: "axis" },
      legend: { textStyle: { color: TEXT }, top: 4 },
      ...option,
    });
    new ResizeObserver(() => c.resize()).observe(el);
    el.qzxChart = c;
  }, (err) => {
    el.textContent = `charts unavailable: ${err.message}`;
  });
  return el;
}

let loading = null;
function loadECharts() {
  loading = loading || new Promise((resolve, reject) => {
    const script = h("script", { src: "/static/vendor/echarts/echarts.common.min.js" });
    script.onload = () => resolve(window.echarts);
    script.onerror = () => reject(new Error("GET echarts.common.min.js failed"));
    document.head.append(script);
  });
  // The element must be laid out before the chart measures it.
  return loading.then((echarts) => new Promise((resolve) => requestAnimationFrame(() => resolve(echarts))));
}

export const axis = (data, extra = {}) => ({
  type: "category", data, axisLine: { lineStyle: { color: LINE } }, axisLabel: { color: TEXT }, ...extra,
});
export const valueAxis = (extra = {}) => ({
  type: "value", splitLine: { lineStyle: { color: LINE } }, axisLabel: { color: TEXT }, ...extra,
});
