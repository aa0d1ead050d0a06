// The doctor's SOAP note: saves as the doctor types, keeps a copy on this device until the
// server has it, and retries while there is no connection or the server fails, so no text is
// lost. A refusal (400, 403) is said and not retried; once the visit is completed, or once
// the doctor signed the note, the server refuses saves for good (later changes are dated,
// signed addenda): the editor says so, turns read-only and offers "Add addendum". Which
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

const SIGN_QUESTION =
  "Sign this note? It becomes read-only for good; later changes are dated addenda.";

export class NotesEditor {
  // `signing`: {button, signature, url} (sign the note, where its signature is shown);
  // `addenda`: {form, list, heading, status, url}.
  constructor({ form, status, reloadButton, url, storageKey, signing, addenda }) {
    this.form = form;
    this.status = status;
    this.reloadButton = reloadButton;
    this.url = url;
    this.storageKey = storageKey;
    this.signing = signing;
    this.addenda = addenda;
    this.version = Number(form.dataset.version || 0);
    this.timer = null;
    this.saving = false;
    this.conflict = false;
    this.closed = false;
    if ("signed" in form.dataset) {
      // Signed before this page loaded: nothing to restore or save.
      this.closed = true;
      localStorage.removeItem(storageKey);
    } else {
      this.restoreDraft();
    }
    form.addEventListener("input", () => this.changed());
    reloadButton.addEventListener("click", () => this.loadSaved());
    window.addEventListener("online", () => this.saveSoon(0));
    signing.button.addEventListener("click", () => this.sign());
    addenda.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.addAddendum();
    });
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
    if (this.closed) return;
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
      if (saved?.signed) return this.showSigned(saved, sections);
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
    this.stopEditing();
    this.say(`${detail || "The visit is completed; add an addendum instead."}${unsavedHint(sections, saved)}`);
  }

  stopEditing() {
    this.closed = true;
    clearTimeout(this.timer);
    for (const area of this.form.querySelectorAll("textarea")) area.readOnly = true;
    this.reloadButton.hidden = true;
    this.addenda.form.hidden = false;
    localStorage.removeItem(this.storageKey);
  }

  // Saves what is still only on this page first: the doctor signs what they see, or nothing.
  async sign() {
    if (!confirm(SIGN_QUESTION)) return;
    clearTimeout(this.timer);
    while (this.saving) await new Promise((resolve) => setTimeout(resolve, 50));
    if (!this.closed && localStorage.getItem(this.storageKey)) await this.save();
    if (this.conflict || localStorage.getItem(this.storageKey)) {
      this.say("Not signed: the note is not saved yet. Sign once it is.");
      return;
    }
    const answer = await fetchJson(this.signing.url, {
      method: "POST",
      body: { version: this.version },
    }).catch(() => null);
    if (!answer) return this.say("Not signed: no connection. Try again.");
    if (!answer.ok) return this.say(`Not signed: ${answer.data.detail || answer.data.version || answer.status}`);
    this.showSigned(answer.data, this.sections());
  }

  // The note as signed (the server's): read-only, who signed it and when, and its hash.
  showSigned(note, sections) {
    this.stopEditing();
    this.signing.button.hidden = true;
    const when = new Date(note.signed_at).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
    const line = document.createElement("p");
    line.className = "note-signature note-signature--signed small";
    const who = document.createElement("strong");
    who.textContent = `Signed by ${note.signed_by}`;
    const hash = document.createElement("span");
    hash.className = "block muted";
    hash.textContent = `SHA-256 ${note.signed_hash}`;
    line.append(who, ` at ${when}`, hash);
    this.signing.signature.replaceChildren(line);
    this.say(`Signed: read-only. Later changes are addenda.${unsavedHint(sections, note)}`);
  }

  async addAddendum() {
    const area = this.addenda.form.querySelector("textarea");
    const text = area.value.trim();
    if (!text) return;
    const answer = await fetchJson(this.addenda.url, { method: "POST", body: { text } }).catch(
      () => null,
    );
    const status = this.addenda.status;
    if (!answer) return (status.textContent = "Not added: no connection. Your text is kept here.");
    if (!answer.ok) {
      status.textContent = `Not added: ${answer.data.detail || answer.data.text || answer.status}`;
      return;
    }
    const { author, created_at: createdAt, text: saved } = answer.data;
    const item = document.createElement("li");
    const who = document.createElement("strong");
    who.textContent = author;
    const when = new Date(createdAt).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
    item.append(who, `, ${when}: ${saved}`);
    this.addenda.list.append(item);
    this.addenda.heading.hidden = false;
    area.value = "";
    status.textContent = "Addendum added: dated and signed by you.";
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

// Text typed since the last save that the server will not take any more.
function unsavedHint(sections, saved) {
  const unsaved = Object.keys(sections).some((name) => sections[name] !== (saved[name] || ""));
  return unsaved ? " Text not saved yet is still shown here: copy it into an addendum." : "";
}
