// The doctor's "Draft note" (the AI scribe): asks the server for a draft of the SOAP note from
// the visit's transcript (POST /api/appointments/{id}/draft-note/, 202), waits for it (the room
// socket's draft_note.ready, and a GET every 2 s while it is pending: the in-memory channel
// layer of a single server cannot carry the worker's event), then shows it beside the doctor's
// own note, section by section: Accept adds it to that section after what the doctor wrote
// (draft-state.js acceptInto; never overwriting), Edit lets them change it first, Discard drops
// it. Cited transcript segments are links that bring the segment into view in the transcript.

import { $ } from "../dom.js";
import { fetchJson } from "../http.js";
import { acceptInto, draftStatusText, readDraft } from "./draft-state.js";

const POLL_MS = 2000;

export class DraftNotePanel {
  // `url`: the draft-note API; `form`: the notes form (its textareas named by section);
  // `reveal(segmentId)`: the transcript panel's.
  constructor({ url, form, reveal }) {
    this.url = url;
    this.form = form;
    this.reveal = reveal;
    this.draft = null;
    this.poller = null;
    this.button = $("draft-note-button");
    this.button.hidden = false;
    this.button.addEventListener("click", () => this.request());
  }

  say(text) {
    $("draft-note-status").hidden = !text;
    $("draft-note-status").textContent = text || "";
  }

  async request() {
    this.button.disabled = true;
    const answer = await fetchJson(this.url, { method: "POST", body: {} }).catch(() => null);
    if (!answer || !(answer.status === 202 || answer.ok)) {
      this.button.disabled = false;
      const why = answer ? answer.data.detail || `the server answered ${answer.status}` : "no connection";
      return this.say(`No draft note: ${why}.`);
    }
    this.received(answer.data);
  }

  // The draft as the server has it (the POST's answer, a GET, or the room's draft_note.ready).
  received(body) {
    this.draft = readDraft(body);
    this.say(draftStatusText(this.draft));
    clearTimeout(this.poller);
    this.poller = null;
    if (this.draft.status === "pending") {
      this.poller = setTimeout(() => this.poll(), POLL_MS);
      return;
    }
    this.button.disabled = false;
    this.render();
  }

  async poll() {
    this.poller = null;
    const answer = await fetchJson(this.url).catch(() => null);
    if (answer?.ok) return this.received(answer.data);
    this.poller = setTimeout(() => this.poll(), POLL_MS); // none yet, or no answer: again
  }

  areaOf(name) {
    return this.form.querySelector(`textarea[name="${name}"]`);
  }

  render() {
    for (const box of this.form.querySelectorAll(".draft")) box.remove();
    for (const section of this.draft.sections) {
      const area = this.areaOf(section.name);
      if (area) area.closest(".field").after(this.box(section));
    }
  }

  box(section) {
    const box = document.createElement("div");
    box.className = "draft";
    box.id = `draft-${section.name}`;
    box.dataset.section = section.name;
    const label = document.createElement("p");
    label.className = "draft__label small";
    label.textContent = "Draft";
    const text = document.createElement("textarea");
    text.className = "input draft__text";
    text.readOnly = true;
    text.rows = 3;
    text.value = section.text;
    text.setAttribute("aria-label", `Drafted ${section.name}`);
    box.append(label, text);
    if (section.cited.length) {
      const cites = document.createElement("p");
      cites.className = "draft__cites small";
      cites.append("From the transcript: ");
      section.cited.forEach((id, index) => {
        const link = document.createElement("a");
        link.href = `#segment-${id}`;
        link.textContent = `#${id}`;
        link.dataset.segmentId = id;
        link.addEventListener("click", (event) => {
          event.preventDefault();
          this.reveal(id);
        });
        if (index) cites.append(", ");
        cites.append(link);
      });
      box.append(cites);
    }
    const actions = document.createElement("p");
    actions.className = "draft__actions";
    const act = (label, handler) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "button button--secondary button--small";
      button.textContent = label;
      button.addEventListener("click", handler);
      actions.append(button, " ");
      return button;
    };
    act("Accept", () => this.accept(section.name, text.value, box));
    const edit = act("Edit", () => {
      text.readOnly = false;
      text.focus();
      edit.disabled = true;
    });
    act("Discard", () => box.remove());
    box.append(actions);
    return box;
  }

  accept(name, text, box) {
    const area = this.areaOf(name);
    area.value = acceptInto(area.value, text);
    // The notes editor saves on input, as if the doctor had typed it.
    area.dispatchEvent(new Event("input", { bubbles: true }));
    box.remove();
  }

  get status() {
    return this.draft ? structuredClone(this.draft) : null;
  }
}
