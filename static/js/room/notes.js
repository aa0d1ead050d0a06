// The doctor's SOAP note: saves as the doctor types, keeps a copy on this device until the
// server has it, and retries while there is no connection or the server fails, so no text is
// lost. A refusal (400, 403) is said and not retried; once the visit is completed the server
// refuses saves for good (later changes are addenda): the editor says so and stops. Which
// answer does what is autosave.js.

import {
  CONFLICT,
  NO_CONNECTION_MESSAGE,
  REFUSED,
  RETRY,
  SERVER_ERROR_MESSAGE,
  refusedMessage,
  saveOutcome,
} from "./autosave.js";
import { fetchJson } from "./http.js";

const SAVE_DELAY_MS = 800;
const RETRY_MS = 3000;

export class NotesEditor {
  constructor({ form, status, reloadButton, url, storageKey }) {
    this.form = form;
    this.status = status;
    this.reloadButton = reloadButton;
    this.url = url;
    this.storageKey = storageKey;
    this.version = Number(form.dataset.version || 0);
    this.timer = null;
    this.saving = false;
    this.conflict = false;
    this.closed = false;
    this.restoreDraft();
    form.addEventListener("input", () => this.changed());
    reloadButton.addEventListener("click", () => this.loadSaved());
    window.addEventListener("online", () => this.saveSoon(0));
  }

  sections() {
    return Object.fromEntries(
      [...this.form.querySelectorAll("textarea")].map((area) => [area.name, area.value]),
    );
  }

  restoreDraft() {
    const draft = JSON.parse(localStorage.getItem(this.storageKey) || "null");
    if (!draft || draft.version < this.version) return;
    for (const [name, text] of Object.entries(draft.sections)) {
      const area = this.form.querySelector(`textarea[name="${name}"]`);
      if (area) area.value = text;
    }
    this.say("Restored unsaved text from this device; saving…");
    this.saveSoon(0);
  }

  changed() {
    localStorage.setItem(
      this.storageKey,
      JSON.stringify({ version: this.version, sections: this.sections() }),
    );
    this.say("Editing…");
    this.saveSoon(SAVE_DELAY_MS);
  }

  saveSoon(delay) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.save(), delay);
  }

  async save() {
    if (this.closed) return;
    if (this.saving || this.conflict) return this.saveSoon(SAVE_DELAY_MS);
    this.saving = true;
    const sections = this.sections();
    try {
      const answer = await fetchJson(this.url, {
        method: "PUT",
        body: { ...sections, version: this.version },
      }).catch(() => null);
      await this.answered(answer, sections);
    } finally {
      this.saving = false;
    }
  }

  // `answer`: {status, data} from the server, or null when none came.
  async answered(answer, sections) {
    const outcome = saveOutcome(answer?.status ?? null);
    if (outcome === RETRY) {
      this.say(answer ? SERVER_ERROR_MESSAGE : NO_CONNECTION_MESSAGE);
      this.saveSoon(RETRY_MS);
      return;
    }
    if (outcome === REFUSED) {
      // Sending the same text again would be refused again: the next edit tries anew.
      this.say(refusedMessage(answer.status, answer.data.detail));
      return;
    }
    if (outcome === CONFLICT) {
      // Either someone saved meanwhile or the visit was completed: the saved note tells which.
      const saved = await this.fetchSaved();
      if (saved?.closed) return this.close(answer.data.detail, sections, saved);
      this.conflict = true;
      this.reloadButton.hidden = false;
      this.say("These notes were changed elsewhere. Your text is kept here; load the saved " +
        "version to continue.");
      return;
    }
    this.version = answer.data.version;
    const current = this.sections();
    const unchanged = Object.keys(current).every((name) => current[name] === sections[name]);
    if (unchanged) localStorage.removeItem(this.storageKey);
    else this.saveSoon(SAVE_DELAY_MS);
    this.say(`Saved ${new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`);
  }

  async fetchSaved() {
    const answer = await fetchJson(this.url).catch(() => null);
    return answer?.ok ? answer.data : null;
  }

  // The visit is completed: nothing more is saved here. Text typed since the last save stays
  // on screen (not on this device: no page would ever restore it) to be copied into an addendum.
  close(detail, sections, saved) {
    this.closed = true;
    clearTimeout(this.timer);
    for (const area of this.form.querySelectorAll("textarea")) area.readOnly = true;
    this.reloadButton.hidden = true;
    localStorage.removeItem(this.storageKey);
    const unsaved = Object.keys(sections).some((name) => sections[name] !== (saved[name] || ""));
    const hint = unsaved ? " Text not saved yet is still shown here: copy it into an addendum." : "";
    this.say(`${detail || "The visit is completed; add an addendum instead."}${hint}`);
  }

  async loadSaved() {
    const data = await this.fetchSaved();
    if (!data) return;
    for (const area of this.form.querySelectorAll("textarea")) area.value = data[area.name] || "";
    this.version = data.version;
    this.conflict = false;
    this.reloadButton.hidden = true;
    localStorage.removeItem(this.storageKey);
    this.say("Loaded the saved version.");
  }

  say(text) {
    this.status.textContent = text;
  }
}
