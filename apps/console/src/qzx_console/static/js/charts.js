// Charts with the vendored ECharts (/static/vendor/echarts, loaded by the page as a classic
// script): one dark theme, disposed with the element that holds them.

import { h } from "./dom.js";

const TEXT = "#9fb4d8";
const LINE = "#1c2e4d";
export const PALETTE = ["#35c9ff", "#ff9a2e", "#3ddc84", "#ff4d5e", "#f2d43a", "#8a5cff", "#4aa8ff", "#ff7ab8"];

export function chart(option, { height = 260 } = {}) {
  const el = h("div", { class: "chart", style: { height: `${height}px` } });
  const echarts = window.echarts;
  if (!echarts) {
    el.textContent = "charts unavailable";
    return el;
  }
  // Drawn once the element is in the page (ECharts needs its size).
  requestAnimationFrame(() => {
    if (!el.isConnected) return;
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
  });
  return el;
}

export const axis = (data, extra = {}) => ({
  type: "category", data, axisLine: { lineStyle: { color: LINE } }, axisLabel: { color: TEXT }, ...extra,
});
export const valueAxis = (extra = {}) => ({
  type: "value", splitLine: { lineStyle: { color: LINE } }, axisLabel: { color: TEXT }, ...extra,
});
