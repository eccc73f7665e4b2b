// The dashboard's shell: sign-in, the creator switch (admins), and the tabs.

import { api, session, signIn, signOut } from "./api.js";
import { renderAnalytics } from "./analytics.js";
import { renderAudience } from "./audience.js";
import { renderKnowledge } from "./knowledge.js";
import { renderPersonality } from "./personality.js";
import { renderPrograms } from "./programs.js";
import { el } from "./ui.js";

const view = document.getElementById("view");
const tabs = document.getElementById("tabs");
const signInCard = document.getElementById("sign-in");
const who = document.getElementById("who");
const creatorSwitch = document.getElementById("creator-switch");
let openedProgram = null;

const RENDERERS = {
  knowledge: (node) => renderKnowledge(node),
  personality: (node) => renderPersonality(node),
  programs: (node) => renderPrograms(node, { onOpen: (program) => { openedProgram = program.id; } }),
  analytics: (node) => renderAnalytics(node, openedProgram),
  audience: (node) => renderAudience(node),
};

async function show(tab) {
  for (const button of tabs.querySelectorAll("button")) button.classList.toggle("active", button.dataset.tab === tab);
  location.hash = tab;
  view.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  try {
    await RENDERERS[tab](view);
  } catch (error) {
    view.replaceChildren(el("div", { class: "card" }, el("p", { class: "error" }, error.message)));
  }
}

async function start() {
  const me = await api("GET", "/api/v1/creators/me");
  session.isAdmin = me.is_admin;
  session.creatorId = me.creator_id;
  creatorSwitch.replaceChildren(...me.creators.map((c) => el("option", { value: c.creator_id, selected: c.creator_id === me.creator_id }, c.name)));
  creatorSwitch.disabled = !me.is_admin;
  signInCard.hidden = true;
  tabs.hidden = false;
  who.hidden = false;
  view.hidden = false;
  const wanted = location.hash.slice(1);
  await show(RENDERERS[wanted] ? wanted : "knowledge");
}

document.getElementById("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("sign-in-error");
  error.textContent = "";
  signIn(document.getElementById("api-key").value.trim());
  try {
    await start();
  } catch (problem) {
    signOut();
    error.textContent = problem.status === 401 ? "That key is not valid." : problem.message;
  }
});

tabs.addEventListener("click", (event) => {
  const tab = event.target.closest("button")?.dataset.tab;
  if (tab) show(tab);
});

creatorSwitch.addEventListener("change", () => {
  session.creatorId = creatorSwitch.value;
  openedProgram = null;
  show(location.hash.slice(1) || "knowledge");
});

document.getElementById("sign-out").addEventListener("click", () => {
  signOut();
  location.hash = "";
  location.reload();
});

if (session.key) start().catch(() => signOut());
