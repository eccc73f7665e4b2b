// A program drawn as a flow: steps top to bottom, when each runs on the arrow into it, branches
// on the right, questions as parallelograms and conditions as diamonds. Drawn from the step list
// itself (the same data the API stores), so it redraws as the program is edited.

import { svg } from "./ui.js";

const WIDTH = 560;
const NODE_W = 250;
const NODE_H = 44;
const ROW = 86;
const CENTER = 230;

export function describeTrigger(trigger = {}) {
  if (trigger.trigger_type === "TIME_BASED") {
    if (trigger.time) return `daily at ${trigger.time}`;
    if (trigger.cron) return `cron ${trigger.cron}`;
    const seconds = Number(trigger.delay_seconds || 0);
    const amount = seconds % 86400 === 0 && seconds ? `${seconds / 86400} d`
      : seconds % 3600 === 0 && seconds ? `${seconds / 3600} h`
      : seconds % 60 === 0 && seconds ? `${seconds / 60} min` : `${seconds} s`;
    return `${amount} after ${(trigger.after || "previous_step").replace("_", " ")}`;
  }
  if (trigger.trigger_type === "EVENT") {
    return trigger.event === "keyword" ? `on keyword ${(trigger.keywords || []).join("/")}` : `on ${trigger.event}`;
  }
  return "";
}

function caption(step) {
  const action = step.action_config || {};
  switch (step.step_type) {
    case "CONDITION": return `${step.step_name}: ${action.condition || "?"}`;
    case "QUESTION": return `${step.step_name}? → ${action.answer_name || "?"}`;
    case "ACTION": return `${step.step_name}: ${action.action || "?"} ${action.tag || action.program || action.variable || ""}`;
    case "WAIT": return `${step.step_name}: wait`;
    default: return step.step_name;
  }
}

function clip(text, length = 38) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

function node(step, y) {
  const x = CENTER - NODE_W / 2;
  const label = svg("text", { x: CENTER, y: y + NODE_H / 2 + 4, "text-anchor": "middle" }, clip(caption(step)));
  let shape;
  if (step.step_type === "CONDITION") {
    shape = svg("polygon", { points: `${CENTER},${y - 6} ${x + NODE_W + 14},${y + NODE_H / 2} ${CENTER},${y + NODE_H + 6} ${x - 14},${y + NODE_H / 2}` });
  } else if (step.step_type === "QUESTION") {
    shape = svg("polygon", { points: `${x + 14},${y} ${x + NODE_W + 14},${y} ${x + NODE_W - 14},${y + NODE_H} ${x - 14},${y + NODE_H}` });
  } else {
    shape = svg("rect", { x, y, width: NODE_W, height: NODE_H, rx: step.step_type === "WAIT" ? 20 : 6 });
  }
  return svg("g", { class: `node ${step.step_type}`, "data-step": step.step_name }, svg("title", {}, caption(step)), shape, label);
}

function terminal(label, y) {
  return svg("g", { class: "node terminal" },
    svg("ellipse", { cx: CENTER, cy: y + 16, rx: 70, ry: 16 }),
    svg("text", { x: CENTER, y: y + 20, "text-anchor": "middle" }, clip(label, 24)));
}

function down(fromY, toY, label) {
  const parts = [svg("line", { class: "edge", x1: CENTER, y1: fromY, x2: CENTER, y2: toY - 2, "marker-end": "url(#arrow)" })];
  if (label) parts.push(svg("text", { class: "edge-label", x: CENTER + 8, y: (fromY + toY) / 2 + 4 }, clip(label, 30)));
  return parts;
}

function branch(fromY, toY, label, lane) {
  const x = CENTER + NODE_W / 2 + 30 + lane * 26;
  const startX = CENTER + NODE_W / 2 + 14;
  const d = `M ${startX} ${fromY} H ${x} V ${toY} H ${CENTER + NODE_W / 2 + 2}`;
  return [
    svg("path", { class: "edge", d, "marker-end": "url(#arrow)" }),
    svg("text", { class: "edge-label", x: x + 4, y: fromY - 4 }, label),
  ];
}

export function drawFlow(title, steps) {
  const top = 20;
  const yOf = (index) => top + 60 + index * ROW;
  const endY = yOf(steps.length);
  const height = endY + 60;
  const root = svg("svg", { viewBox: `0 0 ${WIDTH} ${height}`, width: WIDTH, height, role: "img", "aria-label": `Flow of ${title}` });
  root.append(svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
    svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#7a8599" }))));
  root.append(terminal(title || "start", top));
  const index = new Map(steps.map((step, i) => [step.step_name, i]));
  const targetY = (name, following) => {
    if (!name || name === "next") return following;
    if (name === "end") return endY;
    return index.has(name) ? yOf(index.get(name)) : following;
  };
  if (steps.length) root.append(...down(top + 32, yOf(0), describeTrigger(steps[0].trigger_config)));
  let lane = 0;
  steps.forEach((step, i) => {
    const y = yOf(i);
    root.append(node(step, y));
    const next = steps[i + 1];
    const followingY = i + 1 < steps.length ? yOf(i + 1) : endY;
    const action = step.action_config || {};
    if (step.step_type === "CONDITION") {
      const yes = targetY(action.if_true, followingY);
      const no = targetY(action.if_false, followingY);
      root.append(...branch(y + NODE_H / 2, yes + NODE_H / 2, "yes", lane++));
      if (no === followingY) root.append(...down(y + NODE_H + 6, followingY, "no"));
      else root.append(...branch(y + NODE_H / 2 + 8, no + NODE_H / 2, "no", lane++));
    } else if (step.step_type === "ACTION" && action.action === "end") {
      root.append(...branch(y + NODE_H / 2, endY - NODE_H / 2 + 16, "end", lane++));
    } else {
      root.append(...down(y + NODE_H, followingY, next ? describeTrigger(next.trigger_config) : ""));
    }
  });
  root.append(terminal("end", endY));
  return root;
}
