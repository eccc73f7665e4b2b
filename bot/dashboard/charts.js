// Charts as plain SVG: bars and a line, with axes and labels; no library, no external service.

import { svg } from "./ui.js";

export function barChart(items, { label = (item) => item.label, value = (item) => item.value, max = null, format = (v) => String(v), title = "" } = {}) {
  const width = 520;
  const rowHeight = 26;
  const left = 150;
  const height = Math.max(1, items.length) * rowHeight + 24;
  const top = Math.max(max ?? 0, ...items.map((item) => Number(value(item)) || 0), 1);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, class: "bar-chart" });
  items.forEach((item, i) => {
    const v = Number(value(item)) || 0;
    const y = 8 + i * rowHeight;
    const w = ((width - left - 60) * v) / top;
    root.append(svg("text", { x: left - 8, y: y + 14, "text-anchor": "end" }, String(label(item)).slice(0, 22)));
    root.append(svg("rect", { class: "bar-rect", x: left, y, width: Math.max(w, 1), height: 18, rx: 3, "data-value": v }));
    root.append(svg("text", { x: left + w + 6, y: y + 14 }, value(item) === null ? "–" : format(v)));
  });
  root.append(svg("line", { class: "axis", x1: left, y1: 4, x2: left, y2: height - 12 }));
  return root;
}

export function timeChart(points, series, { title = "" } = {}) {
  const width = 560;
  const height = 200;
  const left = 34;
  const bottom = 28;
  const plotW = width - left - 10;
  const plotH = height - bottom - 12;
  const top = Math.max(1, ...points.flatMap((point) => series.map((s) => Number(point[s.key]) || 0)));
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, class: "time-chart" });
  const step = plotW / Math.max(points.length, 1);
  const barW = Math.max(2, step / (series.length + 1));
  points.forEach((point, i) => {
    series.forEach((s, j) => {
      const v = Number(point[s.key]) || 0;
      const h = (plotH * v) / top;
      root.append(svg("rect", { class: `bar-rect${j ? " alt" : ""}`, x: left + i * step + j * barW, y: 12 + plotH - h, width: barW, height: Math.max(h, 0), "data-value": v },
        svg("title", {}, `${point.date}: ${v} ${s.label}`)));
    });
  });
  root.append(svg("line", { class: "axis", x1: left, y1: 12 + plotH, x2: width - 10, y2: 12 + plotH }));
  root.append(svg("text", { x: left - 6, y: 18, "text-anchor": "end" }, String(top)));
  root.append(svg("text", { x: left - 6, y: 12 + plotH, "text-anchor": "end" }, "0"));
  if (points.length) {
    root.append(svg("text", { x: left, y: height - 8 }, points[0].date));
    root.append(svg("text", { x: width - 10, y: height - 8, "text-anchor": "end" }, points[points.length - 1].date));
  }
  series.forEach((s, j) => root.append(svg("text", { x: left + 120 + j * 110, y: height - 8 }, `${j ? "▒" : "█"} ${s.label}`)));
  return root;
}
