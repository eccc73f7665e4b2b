// Programs: the visual builder. Steps are edited in forms checked as you type by the API's own
// validator (and condition parser); the flow diagram redraws from the steps, draft included.

import { api } from "./api.js";
import { debounce, el, toast } from "./ui.js";
import { drawFlow } from "./flow.js";

const BASE = "/api/v1/creators/programs";
const TYPES = ["MESSAGE", "QUESTION", "WAIT", "CONDITION", "ACTION"];

export async function renderPrograms(view, { onOpen } = {}) {
  let programs = [];
  let program = null;
  let editing = null; // index of the step being edited, or "new"
  const listBody = el("tbody");
  const editor = el("div", { id: "program-editor" });

  async function loadList() {
    programs = (await api("GET", BASE)).programs;
    listBody.replaceChildren(...(programs.length ? programs.map((item) => el("tr", {},
      el("td", {}, el("button", { class: "link", "data-program": item.id, onclick: () => open(item.id) }, item.title)),
      el("td", {}, el("span", { class: `pill ${item.status}` }, item.status)),
      el("td", {}, String(item.step_count)),
      el("td", {}, String(item.enrollment_count)),
    )) : [el("tr", {}, el("td", { colspan: 4, class: "muted" }, "No programs yet."))]));
  }

  async function create(event) {
    event.preventDefault();
    const title = event.target.querySelector("#new-program-title").value.trim();
    if (!title) return;
    const created = await api("POST", BASE, { title, status: "draft" });
    event.target.reset();
    toast(`Created "${created.title}" (draft)`);
    await loadList();
    await open(created.id);
  }

  async function open(id) {
    program = await api("GET", `${BASE}/${id}`);
    editing = null;
    drawEditor();
    if (onOpen) onOpen(program);
  }

  async function setStatus(status) {
    program = await api("PUT", `${BASE}/${program.id}`, { status });
    toast(`"${program.title}" is ${status}`);
    await loadList();
    drawEditor();
  }

  function drawEditor() {
    if (!program) { editor.replaceChildren(); return; }
    const flow = el("div", { class: "flow", id: "flow" });
    const steps = el("div", { class: "steps", id: "steps" });
    const form = editing === null ? null : stepForm(editing === "new" ? null : program.steps[editing], flow);
    program.steps.forEach((step, index) => {
      steps.append(el("div", { class: `step${editing === index ? " editing" : ""}`, "data-step": step.step_name },
        el("div", { class: "step-head" },
          el("span", { class: "pill" }, step.step_type),
          el("span", { class: "name" }, step.step_name),
          el("span", { class: "actions" },
            el("button", { class: "secondary", title: "Move up", disabled: index === 0, onclick: () => move(index, -1) }, "↑"),
            el("button", { class: "secondary", title: "Move down", disabled: index === program.steps.length - 1, onclick: () => move(index, 1) }, "↓"),
            el("button", { class: "secondary", onclick: () => { editing = index; drawEditor(); } }, "Edit"),
            el("button", { class: "danger", onclick: () => removeStep(step) }, "Delete"))),
        editing === index ? form : null));
    });
    if (editing === "new") steps.append(el("div", { class: "step editing" }, form));
    editor.replaceChildren(el("div", { class: "card" },
      el("div", { class: "row" },
        el("h2", { id: "program-title" }, program.title),
        el("div", { class: "fit" }, el("span", { class: `pill ${program.status}`, id: "program-status" }, program.status)),
        el("div", { class: "fit" },
          program.status !== "active" ? el("button", { id: "activate", onclick: () => setStatus("active") }, "Activate") : null, " ",
          program.status !== "archived" ? el("button", { class: "secondary", id: "archive", onclick: () => setStatus("archived") }, "Archive") : null)),
      el("p", { class: "muted" }, program.description || ""),
      el("div", { class: "grid2" },
        el("div", {},
          el("h3", {}, "Steps"), steps,
          editing === null ? el("button", { id: "add-step", onclick: () => { editing = "new"; drawEditor(); } }, "Add a step") : null),
        el("div", {},
          el("h3", {}, "Flow"), flow,
          runPanel()))));
    redraw(flow, null);
  }

  function redraw(flow, draft) {
    const steps = program.steps.map((step, index) => (draft && editing === index ? draft : step));
    if (draft && editing === "new") steps.push(draft);
    flow.replaceChildren(drawFlow(program.title, steps));
  }

  async function move(index, delta) {
    const ids = program.steps.map((step) => step.id);
    [ids[index], ids[index + delta]] = [ids[index + delta], ids[index]];
    await api("PUT", `${BASE}/${program.id}/steps/reorder`, { step_ids: ids });
    await open(program.id);
  }

  async function removeStep(step) {
    try {
      await api("DELETE", `${BASE}/${program.id}/steps/${step.id}`);
      await open(program.id);
      await loadList();
    } catch (error) {
      toast(error.message);
    }
  }

  function stepForm(step, flow) {
    const a = step?.action_config || {};
    const t = step?.trigger_config || {};
    const names = program.steps.map((s) => s.step_name).filter((name) => name !== step?.step_name);
    const field = (id, label, input) => el("div", { class: `field-${id}` }, el("label", { for: id }, label), input);
    const branchOptions = (selected) => ["next", "end", ...names].map((name) => el("option", { value: name, selected: name === selected }, name));
    const inputs = {
      name: el("input", { id: "step-name", value: step?.step_name || "" }),
      type: el("select", { id: "step-type" }, ...TYPES.map((type) => el("option", { value: type, selected: type === (step?.step_type || "MESSAGE") }, type))),
      triggerKind: el("select", { id: "trigger-kind" },
        ...[["now", "right after the previous step"], ["daily", "daily at a time"], ["cron", "cron schedule"], ["delay", "after a delay"], ["event", "on an event"]]
          .map(([value, label]) => el("option", { value, selected: value === triggerKind(t) }, label))),
      time: el("input", { id: "trigger-time", value: t.time || "08:00" }),
      cron: el("input", { id: "trigger-cron", value: t.cron || "0 8 * * 1-5" }),
      delay: el("input", { id: "trigger-delay", type: "number", min: 0, value: t.delay_seconds ?? 3600 }),
      after: el("select", { id: "trigger-after" }, ...["previous_step", "enrollment"].map((v) => el("option", { value: v, selected: v === t.after }, v.replace("_", " ")))),
      event: el("select", { id: "trigger-event" }, ...["enrollment", "reply", "keyword"].map((v) => el("option", { value: v, selected: v === t.event }, v))),
      keywords: el("input", { id: "trigger-keywords", value: (t.keywords || []).join(", ") }),
      template: el("textarea", { id: "message-template" }, a.message_template || ""),
      useKnowledge: el("input", { id: "use-knowledge", type: "checkbox", checked: Boolean(a.use_knowledge_context) }),
      query: el("input", { id: "context-query", value: a.context_query || "" }),
      answer: el("input", { id: "answer-name", value: a.answer_name || "" }),
      choices: el("input", { id: "choices", value: (a.choices || []).map((c) => c.label || c).join(", ") }),
      condition: el("input", { id: "condition", value: a.condition || "", spellcheck: "false" }),
      ifTrue: el("select", { id: "if-true" }, ...branchOptions(a.if_true || "next")),
      ifFalse: el("select", { id: "if-false" }, ...branchOptions(a.if_false || "next")),
      actionKind: el("select", { id: "action-kind" }, ...["tag", "enroll", "set", "end"].map((v) => el("option", { value: v, selected: v === a.action }, v))),
      actionValue: el("input", { id: "action-value", value: a.tag || a.program || a.variable || "" }),
      setValue: el("input", { id: "set-value", value: a.value ?? "" }),
    };
    const caret = el("div", { class: "caret", id: "condition-caret" });
    const verdict = el("div", { class: "validation", id: "step-validation", role: "status" });
    const save = el("button", { id: "save-step", type: "submit" }, step ? "Save step" : "Add step");
    const groups = {
      trigger: {
        daily: field("trigger-time", "Time (the person's own time zone, HH:MM)", inputs.time),
        cron: field("trigger-cron", "Cron (minute hour day month weekday)", inputs.cron),
        delay: el("div", { class: "row" }, field("trigger-delay", "Delay in seconds", inputs.delay), field("trigger-after", "After", inputs.after)),
        event: el("div", { class: "row" }, field("trigger-event", "Event", inputs.event), field("trigger-keywords", "Keywords (comma list)", inputs.keywords)),
      },
      message: el("div", {},
        field("message-template", "Message ({user_name}, {answer.<name>}, {knowledge_context}, {enhanced_content}, {day})", inputs.template),
        el("div", { class: "row" }, el("label", { class: "fit" }, inputs.useKnowledge, " use my documents"), field("context-query", "Look up", inputs.query))),
      question: el("div", { class: "row" }, field("answer-name", "Keep the answer as", inputs.answer), field("choices", "Choices (comma list, optional)", inputs.choices)),
      condition: el("div", {}, field("condition", "Condition", inputs.condition), caret,
        el("div", { class: "row" }, field("if-true", "If true, go to", inputs.ifTrue), field("if-false", "Otherwise", inputs.ifFalse))),
      action: el("div", { class: "row" }, field("action-kind", "Action", inputs.actionKind), field("action-value", "Tag / program / variable", inputs.actionValue), field("set-value", "Value (for set)", inputs.setValue)),
    };

    function draft() {
      const type = inputs.type.value;
      const trigger = {};
      switch (inputs.triggerKind.value) {
        case "daily": Object.assign(trigger, { trigger_type: "TIME_BASED", schedule: "daily", time: inputs.time.value.trim() }); break;
        case "cron": Object.assign(trigger, { trigger_type: "TIME_BASED", cron: inputs.cron.value.trim() }); break;
        case "delay": Object.assign(trigger, { trigger_type: "TIME_BASED", delay_seconds: Number(inputs.delay.value), after: inputs.after.value }); break;
        case "event": Object.assign(trigger, { trigger_type: "EVENT", event: inputs.event.value });
          if (inputs.event.value === "keyword") trigger.keywords = list(inputs.keywords.value);
          break;
        default: break;
      }
      const action = {};
      if (type === "MESSAGE" || type === "QUESTION") {
        if (inputs.template.value.trim()) action.message_template = inputs.template.value;
        if (inputs.useKnowledge.checked) { action.use_knowledge_context = true; action.context_query = inputs.query.value.trim(); }
      }
      if (type === "QUESTION") {
        action.answer_name = inputs.answer.value.trim();
        const choices = list(inputs.choices.value);
        if (choices.length) action.choices = choices;
      }
      if (type === "CONDITION") Object.assign(action, { condition: inputs.condition.value, if_true: inputs.ifTrue.value, if_false: inputs.ifFalse.value });
      if (type === "ACTION") {
        action.action = inputs.actionKind.value;
        const value = inputs.actionValue.value.trim();
        if (action.action === "tag") action.tag = value;
        if (action.action === "enroll") action.program = value;
        if (action.action === "set") { action.variable = value; action.value = inputs.setValue.value; }
      }
      return { step_name: inputs.name.value.trim(), step_type: type, trigger_config: trigger, action_config: action };
    }

    function showGroups() {
      const type = inputs.type.value;
      for (const [kind, node] of Object.entries(groups.trigger)) node.hidden = inputs.triggerKind.value !== kind;
      groups.message.hidden = !(type === "MESSAGE" || type === "QUESTION");
      groups.question.hidden = type !== "QUESTION";
      groups.condition.hidden = type !== "CONDITION";
      groups.action.hidden = type !== "ACTION";
    }

    const check = debounce(async () => {
      const current = draft();
      redraw(flow, current);
      let problem = current.step_name ? null : "Give the step a name.";
      if (!problem && names.includes(current.step_name)) problem = `The program already has a step named "${current.step_name}".`;
      if (!problem) {
        const result = await api("POST", `${BASE}/validate-step`, { ...current, step_names: [...names, current.step_name] });
        problem = result.valid ? null : result.error;
      }
      caret.textContent = "";
      if (current.step_type === "CONDITION" && current.action_config.condition) {
        const parsed = await api("POST", `${BASE}/validate-condition`, { condition: current.action_config.condition });
        if (!parsed.valid) caret.textContent = `${current.action_config.condition}\n${" ".repeat(parsed.position)}^ ${parsed.error}`;
      }
      verdict.textContent = problem ? problem : "✓ valid";
      verdict.className = `validation ${problem ? "invalid" : "valid"}`;
      save.disabled = Boolean(problem);
    });

    async function submit(event) {
      event.preventDefault();
      const body = draft();
      try {
        if (step) await api("PUT", `${BASE}/${program.id}/steps/${step.id}`, body);
        else await api("POST", `${BASE}/${program.id}/steps`, body);
        toast(`Saved step "${body.step_name}"`);
        await open(program.id);
        await loadList();
      } catch (error) {
        verdict.textContent = error.message;
        verdict.className = "validation invalid";
      }
    }

    const form = el("form", { id: "step-form", oninput: () => { showGroups(); check(); }, onchange: () => { showGroups(); check(); }, onsubmit: submit },
      el("div", { class: "row" }, field("step-name", "Name", inputs.name), field("step-type", "Type", inputs.type)),
      field("trigger-kind", "When", inputs.triggerKind),
      ...Object.values(groups.trigger), groups.message, groups.question, groups.condition, groups.action,
      verdict,
      el("div", { class: "row" }, save, el("button", { type: "button", class: "secondary", onclick: () => { editing = null; drawEditor(); } }, "Cancel")));
    showGroups();
    queueMicrotask(check);
    return form;
  }

  function runPanel() {
    const select = el("select", { id: "run-step" }, ...program.steps.map((step) => el("option", { value: step.id }, step.step_name)));
    const userName = el("input", { id: "run-user", value: "Test user" });
    const answers = el("input", { id: "run-answers", placeholder: "answers, e.g. goal=Eat better" });
    const output = el("div", { id: "run-output" });
    async function run(event) {
      event.preventDefault();
      const answerMap = Object.fromEntries(list(answers.value).map((pair) => pair.split("=").map((s) => s.trim())).filter((pair) => pair.length === 2));
      const result = await api("POST", `${BASE}/${program.id}/execute`, {
        step_id: select.value, debug_mode: true, user_context: { user_name: userName.value, answers: answerMap },
      });
      const outcome = result.execution_result;
      output.replaceChildren(
        outcome.message ? el("div", { class: "preview", id: "run-message" }, outcome.message) : el("pre", { class: "preview" }, JSON.stringify(outcome, null, 2)),
        el("p", { class: "muted" }, `knowledge used: ${outcome.knowledge_used.length} passage(s) · personality ${outcome.personality_enhanced ? "on" : "off"}${outcome.personality_consistency !== null && outcome.personality_consistency !== undefined ? ` · consistency ${outcome.personality_consistency.toFixed(2)}` : ""} · ${result.execution_time_ms} ms`),
        el("table", { class: "trace", id: "trace" }, el("tbody", {}, ...result.debug_info.milestones.map((m) => el("tr", {},
          el("td", {}, m.milestone), el("td", {}, `${m.elapsed_ms} ms`), el("td", { class: "muted" }, JSON.stringify(m.data)))))));
    }
    return el("div", {}, el("h3", {}, "Run a step for a test user"),
      el("form", { onsubmit: run }, el("div", { class: "row" }, select, userName), answers, el("button", { id: "run-button", type: "submit" }, "Run this step")),
      output);
  }

  view.replaceChildren(
    el("div", { class: "card" },
      el("h2", {}, "Programs"),
      el("table", { id: "programs" }, el("thead", {}, el("tr", {}, el("th", {}, "Title"), el("th", {}, "Status"), el("th", {}, "Steps"), el("th", {}, "Enrolled"))), listBody),
      el("form", { id: "new-program", onsubmit: create }, el("div", { class: "row" },
        el("div", {}, el("label", { for: "new-program-title" }, "New program"), el("input", { id: "new-program-title", placeholder: "Title" })),
        el("button", { type: "submit", id: "create-program" }, "Create")))),
    editor);
  await loadList();
}

function triggerKind(trigger) {
  if (trigger.trigger_type === "TIME_BASED") return trigger.time ? "daily" : trigger.cron ? "cron" : "delay";
  if (trigger.trigger_type === "EVENT") return "event";
  return "now";
}

function list(text) {
  return text.split(",").map((item) => item.trim()).filter(Boolean);
}
