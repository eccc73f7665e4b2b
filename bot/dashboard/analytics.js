// Analytics: per program, charts drawn as SVG, each beside its definition.

import { api } from "./api.js";
import { barChart, timeChart } from "./charts.js";
import { el, percent } from "./ui.js";

const BASE = "/api/v1/creators/programs";

export async function renderAnalytics(view, preselected) {
  const { programs } = await api("GET", BASE);
  const select = el("select", { id: "analytics-program" }, ...programs.map((p) => el("option", { value: p.id, selected: p.id === preselected }, p.title)));
  const days = el("select", { id: "analytics-days" }, ...[7, 30, 90].map((d) => el("option", { value: d, selected: d === 30 }, `last ${d} days`)));
  const body = el("div", { id: "analytics" });

  async function load() {
    if (!select.value) { body.replaceChildren(el("p", { class: "muted" }, "No programs yet.")); return; }
    const data = await api("GET", `${BASE}/${select.value}/analytics?time_range_days=${days.value}`);
    const d = data.definitions;
    const panel = (title, chart, definition) => el("div", { class: "card chart" }, el("h3", {}, title), chart, el("p", { class: "definition" }, definition));
    body.replaceChildren(
      el("div", { class: "grid2" },
        panel("Enrolments over time", timeChart(data.enrollments_over_time, [{ key: "enrollments", label: "enrolled" }, { key: "completions", label: "completed" }], { title: "Enrolments over time" }), d.enrollments_over_time),
        el("div", { class: "card" },
          el("h3", {}, "Completion"),
          el("div", { class: "metric", id: "completion-rate" }, percent(data.completion_rate)),
          el("p", { class: "muted" }, `${data.completed_enrollments} of ${data.enrollments} enrolments · ${data.active_enrollments} active`),
          el("p", { class: "definition" }, d.completion_rate),
          el("h3", {}, "Knowledge and voice"),
          el("p", {}, `Knowledge utilisation: ${percent(data.knowledge_utilisation)} · average relevance: ${data.average_relevance ?? "–"}`),
          el("p", { class: "definition" }, `${d.knowledge_utilisation}; ${d.average_relevance}`),
          el("p", {}, `Personality consistency: ${data.personality_consistency ?? "–"}`),
          el("p", { class: "definition" }, d.personality_consistency))),
      el("div", { class: "grid2" },
        panel("Drop-off per step", barChart(data.steps, { label: (s) => s.step_name, value: (s) => s.drop_off, title: "Drop-off per step" }), d.drop_off),
        panel(`Engagement per step (replies within ${data.engagement_hours} h)`, barChart(data.steps, { label: (s) => s.step_name, value: (s) => s.engagement_rate, max: 1, format: (v) => percent(v), title: "Engagement per step" }), d.engagement)),
      panel("Top topics in replies", data.top_topics.length
        ? barChart(data.top_topics, { label: (t) => t.topic, value: (t) => t.mentions, title: "Top topics" })
        : el("p", { class: "muted" }, "No replies yet."), d.top_topics),
    );
  }

  select.addEventListener("change", load);
  days.addEventListener("change", load);
  view.replaceChildren(el("div", { class: "card" }, el("div", { class: "row" }, el("h2", {}, "Analytics"), select, days)), body);
  await load();
}
