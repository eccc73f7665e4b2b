// Knowledge: the creator's documents, uploads with progress (several files at once go as one batch
// job, whose progress is polled), deletion, and the search view of /ask.

import { api, upload } from "./api.js";
import { el, progressBar, toast, when } from "./ui.js";

const BASE = "/api/v1/creators/knowledge";
const POLL_MS = 500;

// One line saying how far a batch job has come (files read, passages embedded, the stage).
export function batchSummary(job) {
  if (job.state === "running") {
    return `Batch: ${job.files_parsed}/${job.files_total} files read, ${job.chunks_embedded}/${job.chunks_total} passages embedded (${job.stage})…`;
  }
  if (job.state === "failed") return `The batch failed: ${job.error}. Nothing of it was kept.`;
  const count = (outcome) => job.results.filter((result) => result.outcome === outcome).length;
  const rejected = job.results.filter((result) => result.outcome === "rejected")
    .map((result) => `${result.filename} (${result.reason})`);
  return `Batch done: ${count("created")} learned, ${count("replaced")} replaced, ${count("duplicate")} already known`
    + (rejected.length ? `, refused: ${rejected.join(", ")}` : "") + ".";
}

export async function renderKnowledge(view) {
  const list = el("tbody");
  const bar = progressBar();
  bar.hidden = true;
  const status = el("p", { class: "muted", id: "upload-status" });
  const fileInput = el("input", { type: "file", id: "upload-file", multiple: true, accept: ".pdf,.docx,.txt,.md,.markdown,.html,.htm" });
  const titleInput = el("input", { id: "upload-title", placeholder: "Title (optional)" });
  const results = el("div", { id: "search-results" });
  const query = el("input", { id: "search-query", placeholder: "A question a client might ask" });

  async function refresh() {
    const { documents } = await api("GET", `${BASE}/documents?page_size=100`);
    list.replaceChildren(...(documents.length ? documents.map((doc) => el("tr", { "data-document": doc.id },
      el("td", {}, doc.title),
      el("td", {}, doc.metadata.document_type),
      el("td", {}, String(doc.chunk_count)),
      el("td", {}, when(doc.created_at)),
      el("td", {}, el("button", { class: "danger", onclick: () => remove(doc) }, "Delete")),
    )) : [el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No documents yet: upload one to teach your twin."))]));
  }

  async function remove(doc) {
    if (!confirm(`Delete "${doc.title}" and everything learned from it?`)) return;
    await api("DELETE", `${BASE}/documents/${doc.id}`);
    toast(`Deleted ${doc.title}`);
    await refresh();
  }

  // Runs one upload (single or batch) with the bar shown: its refusal is reported, the bar filled.
  async function withProgress(message, work) {
    bar.hidden = false;
    bar.set(0);
    status.className = "muted";
    status.textContent = message;
    try {
      await work();
      fileInput.value = "";
      await refresh();
    } catch (error) {
      status.textContent = `Refused: ${error.message}`;
      status.className = "error";
    } finally {
      bar.set(1);
    }
  }

  // Several files: one batch job (embedded together, the personality re-analysed once), followed by
  // polling its status until it is done. Jobs live in the instance that took the upload.
  function sendBatch(files) {
    const form = new FormData();
    for (const file of files) form.append("files", file);
    return withProgress(`Uploading ${files.length} files…`, async () => {
      let job = await upload(`${BASE}/upload/batch`, form, (fraction) => bar.set(fraction * 0.1));
      while (job.state === "running") {
        status.textContent = batchSummary(job);
        bar.set(0.1 + 0.9 * (job.chunks_total ? job.chunks_embedded / job.chunks_total : job.files_parsed / (2 * job.files_total)));
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        job = await api("GET", job.status_url);
      }
      status.textContent = batchSummary(job);
      status.className = job.state === "done" ? "ok" : "error";
    });
  }

  async function send(event) {
    event.preventDefault();
    const file = fileInput.files[0];
    if (!file) { status.textContent = "Choose a file first."; return; }
    if (fileInput.files.length > 1) { await sendBatch([...fileInput.files]); return; }
    const form = new FormData();
    form.append("file", file);
    if (titleInput.value.trim()) form.append("title", titleInput.value.trim());
    await withProgress(`Uploading ${file.name}…`, async () => {
      const result = await upload(`${BASE}/upload`, form, (fraction) => {
        bar.set(fraction);
        if (fraction >= 1) status.textContent = `Reading and indexing ${file.name}…`;
      });
      status.textContent = result.outcome === "duplicate"
        ? `${file.name} was already known (as "${result.title}").`
        : `Learned "${result.title}": ${result.chunk_count} passages.`;
      status.className = "ok";
      titleInput.value = "";
    });
  }

  async function search(event) {
    event.preventDefault();
    const text = query.value.trim();
    if (!text) return;
    const form = new FormData();
    form.append("query", text);
    form.append("limit", "5");
    const { search_results } = await api("POST", `${BASE}/search`, form);
    results.replaceChildren(...(search_results.results.length ? search_results.results.map((hit) => el("div", { class: "hit" },
      el("div", {}, el("strong", {}, hit.source), " · ", hit.location, " · ", el("span", { class: "pill" }, `relevance ${Number(hit.relevance_score).toFixed(3)}`),
        " ", el("span", { class: "pill", title: "prose and lists are quoted in answers; other kinds are searchable only" }, ["prose", "list", "form"].includes(hit.kind) ? hit.kind : `${hit.kind} · never quoted`)),
      el("div", { class: "muted" }, hit.content),
    )) : [el("p", { class: "muted" }, "Nothing in your documents matches that.")]));
  }

  view.replaceChildren(
    el("div", { class: "card" },
      el("h2", {}, "Upload a document"),
      el("form", { id: "upload-form", onsubmit: send },
        el("div", { class: "row" }, el("div", {}, el("label", { for: "upload-file" }, "PDF, DOCX, TXT, Markdown or HTML (several: one batch)"), fileInput),
          el("div", {}, el("label", { for: "upload-title" }, "Title"), titleInput),
          el("button", { type: "submit", id: "upload-button" }, "Upload")),
        bar, status)),
    el("div", { class: "card" },
      el("h2", {}, "Documents"),
      el("table", { id: "documents" }, el("thead", {}, el("tr", {}, el("th", {}, "Title"), el("th", {}, "Type"), el("th", {}, "Passages"), el("th", {}, "Added"), el("th", {}, ""))), list)),
    el("div", { class: "card" },
      el("h2", {}, "What would the twin read?"),
      el("p", { class: "muted" }, "The passages a question retrieves, with their relevance (cosine similarity, 0–1) — the same view as /ask."),
      el("form", { onsubmit: search }, el("div", { class: "row" }, query, el("button", { type: "submit", id: "search-button" }, "Search"))),
      results),
  );
  await refresh();
}
