// Audience: people per channel, opt-outs and blocks, tags, enrolments; broadcasts with a preview and
// a confirmation, then the delivery report as it fills in.

import { api } from "./api.js";
import { el, toast } from "./ui.js";

// People on a channel this instance cannot send on are not reachable: say why, and what to set.
function reachableCell(channel) {
  if (channel.configured !== false) return el("td", {}, String(channel.reachable));
  return el("td", { class: "not-reachable", title: channel.not_reachable_reason || "" },
    "0 ", el("span", { class: "muted" }, `not reachable: ${channel.not_reachable_reason}`));
}

export async function renderAudience(view) {
  const data = await api("GET", "/api/v1/creators/audience");
  const text = el("textarea", { id: "broadcast-text", placeholder: "Your message to everyone" });
  const audience = el("select", { id: "broadcast-audience" },
    el("option", { value: "all" }, "everyone"),
    ...data.tags.map((tag) => el("option", { value: `tag:${tag.tag}` }, `tag ${tag.tag} (${tag.people})`)),
    ...data.programs.map((p) => el("option", { value: `program:${p.program_id}` }, `enrolled in ${p.title}`)));
  const preview = el("div", { id: "broadcast-preview" });
  const report = el("div", { id: "broadcast-report" });
  const reachable = data.channels.filter((c) => data.messaging_channels.includes(c.channel)).reduce((sum, c) => sum + c.reachable, 0);

  function showPreview(event) {
    event.preventDefault();
    const message = text.value.trim();
    if (!message) { preview.replaceChildren(el("p", { class: "error" }, "Write the message first.")); return; }
    const label = audience.selectedOptions[0].textContent;
    preview.replaceChildren(el("div", { class: "confirm", id: "broadcast-confirm" },
      el("p", {}, `Send to ${label} on ${data.messaging_channels.join(", ") || "no messaging channel"}` + (audience.value === "all" ? ` (${reachable} reachable people)` : "") + ":"),
      el("div", { class: "preview" }, message),
      el("div", { class: "row" },
        el("button", { id: "broadcast-send", onclick: () => send(message) }, "Confirm and send"),
        el("button", { class: "secondary", onclick: () => preview.replaceChildren() }, "Cancel"))));
  }

  async function send(message) {
    const [kind, value] = audience.value.split(/:(.*)/s);
    const body = { text: message };
    if (kind === "tag") body.tag = value;
    if (kind === "program") body.program_id = value;
    preview.replaceChildren();
    let result = await api("POST", "/api/v1/creators/broadcasts", body);
    toast(`Broadcast queued for ${result.recipients} people`);
    for (let i = 0; i < 120; i += 1) {
      showReport(result);
      if (result.status === "done") break;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      result = await api("GET", `/api/v1/creators/broadcasts/${result.broadcast_id}`);
    }
  }

  function showReport(result) {
    report.replaceChildren(el("table", {}, el("tbody", {},
      ...[["status", result.status], ["recipients", result.recipients], ["sent", result.sent], ["failed", result.failed],
        ["opted out", result.opted_out], ["blocked", result.blocked], ["still queued", result.queued]]
        .map(([name, value]) => el("tr", {}, el("th", {}, name), el("td", {}, String(value)))))));
  }

  view.replaceChildren(
    el("div", { class: "grid2" },
      el("div", { class: "card" },
        el("h2", {}, `Audience: ${data.users} people`),
        el("table", { id: "channels" }, el("thead", {}, el("tr", {}, ...["Channel", "Accounts", "Reachable", "Opted out", "Blocked"].map((h) => el("th", {}, h)))),
          el("tbody", {}, ...data.channels.map((c) => el("tr", {}, el("td", {}, c.channel), el("td", {}, String(c.accounts)), reachableCell(c), el("td", {}, String(c.opted_out)), el("td", {}, String(c.blocked)))))),
        el("h3", {}, "Enrolments"),
        el("table", {}, el("tbody", {}, ...data.programs.map((p) => el("tr", {}, el("td", {}, p.title),
          el("td", { class: "muted" }, Object.entries(p.enrollments).map(([status, count]) => `${count} ${status}`).join(", ") || "none")))))),
      el("div", { class: "card" },
        el("h2", {}, "Broadcast"),
        el("form", { id: "broadcast-form", onsubmit: showPreview }, text, el("label", { for: "broadcast-audience" }, "To"), audience,
          el("button", { type: "submit", id: "broadcast-preview-button" }, "Preview")),
        preview, report)));
}
