// Personality: the current profile (traits with confidence, methodologies, style) and re-analysis.

import { api, ApiError } from "./api.js";
import { el, percent, toast, when } from "./ui.js";

const BASE = "/api/v1/creators/knowledge/personality";

const FEATURE_NAMES = {
  avg_sentence_words: "words per sentence",
  question_rate: "sentences that are questions",
  exclamation_rate: "sentences with exclamations",
  imperative_rate: "sentences that instruct",
  second_person_rate: "words that are “you”",
  first_person_rate: "words that are “I/we”",
  hedge_rate: "hedging words",
  contraction_rate: "contractions",
  emoji_rate: "emoji per sentence",
  avg_word_length: "letters per word",
  long_word_rate: "long words (9+ letters)",
};

export async function renderPersonality(view) {
  const body = el("div", { id: "personality" });
  const button = el("button", { id: "reanalyse", onclick: analyse }, "Re-analyse my documents");

  async function analyse() {
    button.disabled = true;
    button.textContent = "Analysing…";
    try {
      await api("POST", `${BASE}/analyze`, { force_reanalysis: true });
      toast("Profile updated");
      await load();
    } catch (error) {
      body.replaceChildren(el("p", { class: "error" }, error.message));
    } finally {
      button.disabled = false;
      button.textContent = "Re-analyse my documents";
    }
  }

  async function load() {
    let data;
    try {
      data = await api("GET", BASE);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        body.replaceChildren(el("p", { class: "muted" }, "No profile yet. Upload documents, then analyse them."));
        return;
      }
      throw error;
    }
    const profile = data.personality_profile;
    const features = profile.style_features || {};
    body.replaceChildren(
      el("p", { id: "personality-summary" }, profile.personality_summary),
      el("p", { class: "muted" }, `Version ${profile.version} · ${profile.analyser} · confidence ${percent(profile.confidence_score)} · from ${profile.evidence.words} words in ${profile.evidence.documents} document(s) · ${when(profile.created_at)}`),
      ...(profile.notes || []).map((note) => el("p", { class: "error" }, note)),
      el("div", { class: "grid2" },
        el("div", {},
          el("h3", {}, "Traits"),
          el("table", { id: "traits" }, el("tbody", {}, ...profile.traits.map((trait) => el("tr", {},
            el("td", {}, trait.dimension),
            el("td", {}, el("div", { class: "bar", title: `value ${trait.value}` }, barFill(trait.value))),
            el("td", {}, trait.value.toFixed(2)),
            el("td", { class: "muted" }, `confidence ${percent(trait.confidence)}`),
          ))))),
        el("div", {},
          el("h3", {}, "Methodologies"),
          profile.key_methodologies.length
            ? el("ul", {}, ...profile.key_methodologies.map((name) => el("li", {}, name)))
            : el("p", { class: "muted" }, "None stands out yet."),
          el("h3", {}, "Style, measured"),
          el("table", {}, el("tbody", {}, ...Object.entries(features).map(([name, value]) => el("tr", {},
            el("td", {}, FEATURE_NAMES[name] || name),
            el("td", {}, name.endsWith("_rate") && name !== "emoji_rate" ? percent(value) : Number(value).toFixed(2)),
          )))))),
      el("h3", {}, "The prompt your twin speaks with"),
      el("pre", { class: "preview" }, data.personality_prompt.personalized_prompt),
    );
  }

  view.replaceChildren(el("div", { class: "card" }, el("div", { class: "row" }, el("h2", {}, "Personality"), el("div", { class: "fit" }, button)), body));
  await load();
}

function barFill(value) {
  const fill = el("div");
  fill.style.width = `${Math.round(Math.max(0, Math.min(1, value)) * 100)}%`;
  return fill;
}
