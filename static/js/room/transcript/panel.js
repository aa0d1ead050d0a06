// The transcription's consent on the room page (templates/rooms/room.html), as the recording's
// (recording/panel.js) with its own toggle: the doctor's Transcribe button, the dialog for
// whoever is asked (saying where the audio goes), the "Transcribing" indicator for everyone in
// the call, Stop for anyone, Withdraw consent for whoever allowed, the notices and the
// announcements. What to show comes from consent-state.js.

import { $ } from "../dom.js";
import {
  ON,
  OFF,
  elapsedSeconds,
  formatElapsed,
  isEncrypted,
  transcriptionAnnouncement,
  transcriptionOf,
  transcriptionView,
} from "./consent-state.js";

// As the recording's: a state sent before the room had our answer may still ask us.
const ANSWER_WAIT_MS = 5000;

export class TranscriptionPanel {
  constructor({ send, frames }) {
    this.send = send;
    this.frames = frames;
    this.transcription = transcriptionOf(null);
    this.view = null;
    this.receivedAt = 0;
    this.ticker = null;
    this.returnFocusTo = null;
    this.answered = null;
    this.dialog = $("transcription-consent");
    $("transcribe-button")?.addEventListener("click", () => this.request());
    $("transcription-stop").addEventListener("click", () => this.stop());
    $("transcription-withdraw").addEventListener("click", () => this.decide("withdraw"));
    $("transcription-allow").addEventListener("click", () => this.decide("allow"));
    $("transcription-decline").addEventListener("click", () => this.decide("decline"));
    // Escape declines: nothing is transcribed without a yes.
    this.dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      this.decide("decline");
    });
  }

  update(state, me, participants) {
    const previous = this.transcription;
    this.transcription = transcriptionOf(state);
    this.receivedAt = performance.now();
    this.view = transcriptionView(this.transcription, me, participants, { e2ee: isEncrypted(state) });
    const said = transcriptionAnnouncement(previous, this.transcription, me);
    if (said) $("transcription-announcer").textContent = said;
    this.render();
    return this.view;
  }

  render() {
    const view = this.view;
    const request = $("transcribe-button");
    if (request) {
      request.hidden = !view.canRequest;
      request.disabled = false;
    }
    $("transcription-stop").hidden = !view.canStop;
    $("transcription-withdraw").hidden = !view.canWithdraw;
    $("transcription-waiting").hidden = !view.waiting;
    $("transcription-waiting").textContent = view.waiting || "";
    $("transcription-notice").hidden = !view.notice;
    $("transcription-notice").textContent = view.notice || "";
    const indicator = $("transcription-indicator");
    indicator.hidden = !view.indicator;
    if (view.indicator) {
      indicator.dataset.state = view.indicator.kind;
      $("transcription-label").textContent = view.indicator.label;
    }
    this.tick();
    clearInterval(this.ticker);
    this.ticker = view.state === ON ? setInterval(() => this.tick(), 1000) : null;
    this.showDialog(view.dialog);
  }

  elapsed() {
    return elapsedSeconds(this.transcription, performance.now() - this.receivedAt);
  }

  tick() {
    $("transcription-elapsed").textContent = formatElapsed(this.elapsed());
  }

  showDialog(dialog) {
    const justAnswered =
      dialog &&
      this.answered?.transcriptionId === dialog.transcriptionId &&
      performance.now() - this.answered.at < ANSWER_WAIT_MS;
    if (dialog && !justAnswered) {
      $("transcription-consent-text").textContent = dialog.text;
      $("transcription-consent-detail").textContent = dialog.detail;
      if (!this.dialog.open) {
        this.returnFocusTo = document.activeElement;
        this.dialog.showModal();
        this.dialog.focus();
      }
    } else if (this.dialog.open && !dialog) {
      this.closeDialog();
    }
  }

  closeDialog() {
    this.dialog.close();
    this.returnFocusTo?.focus?.();
    this.returnFocusTo = null;
  }

  problem(text) {
    $("transcription-problem").textContent = text;
    $("transcription-problem").hidden = !text;
  }

  notConnected() {
    $("transcription-announcer").textContent = "Not connected; try again in a moment.";
  }

  request() {
    if (!this.send({ type: this.frames.TRANSCRIPTION_REQUEST })) return this.notConnected();
    $("transcribe-button").disabled = true;
  }

  stop() {
    if (this.transcription.state === OFF) return;
    if (!this.send({ type: this.frames.TRANSCRIPTION_STOP, transcription_id: this.transcription.id })) {
      this.notConnected();
    }
  }

  decide(decision) {
    const transcriptionId = this.view?.dialog?.transcriptionId || this.transcription.id;
    if (!transcriptionId) return;
    if (!this.send({ type: this.frames.TRANSCRIPTION_CONSENT, transcription_id: transcriptionId, decision })) {
      return this.notConnected();
    }
    this.answered = { transcriptionId, at: performance.now() };
    if (this.dialog.open) this.closeDialog();
  }

  get status() {
    const indicator = $("transcription-indicator");
    return {
      ...structuredClone(this.transcription),
      indicator: indicator.hidden ? null : indicator.textContent.replace(/\s+/g, " ").trim(),
      dialogOpen: this.dialog.open,
      dialogText: this.dialog.open ? this.dialog.textContent.replace(/\s+/g, " ").trim() : null,
    };
  }
}
