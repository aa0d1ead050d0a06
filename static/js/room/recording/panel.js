// The recording's part of the room page (templates/rooms/room.html): the doctor's Record
// button, the consent dialog for whoever is asked, the "● Recording 00:12" indicator with
// its elapsed time, Stop for anyone, a patient's Withdraw consent, the doctor's "Declined by
// …" notice, and the announcements a screen reader hears ("Recording started", "Recording
// paused", "Recording stopped"). What to show comes from consent-state.js.

import { $ } from "../dom.js";
import { OFF, ON, announcement, elapsedSeconds, formatElapsed, recordingOf, recordingView } from "./consent-state.js";

// A state sent before the room had our answer may still ask us: not again for this long (if
// the answer was lost with a dropped socket, the question comes back after it).
const ANSWER_WAIT_MS = 5000;

export class RecordingPanel {
  // `send(frame)` -> whether it went (the socket is open); `frames`: the client frame types.
  constructor({ send, frames }) {
    this.send = send;
    this.frames = frames;
    this.recording = recordingOf(null);
    this.view = null;
    this.receivedAt = 0;
    this.ticker = null;
    this.returnFocusTo = null;
    this.answered = null; // {recordingId, at}: our answer is on its way, do not ask again
    this.dialog = $("recording-consent");
    $("record-button")?.addEventListener("click", () => this.request());
    $("recording-stop").addEventListener("click", () => this.stop());
    $("recording-withdraw").addEventListener("click", () => this.decide("withdraw"));
    $("recording-allow").addEventListener("click", () => this.decide("allow"));
    $("recording-decline").addEventListener("click", () => this.decide("decline"));
    // Escape on the question declines: nothing is recorded without a yes.
    this.dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      this.decide("decline");
    });
  }

  // A room.state arrived: `me` {userId, role}, the participants for names.
  update(state, me, participants) {
    const previous = this.recording;
    this.recording = recordingOf(state);
    this.receivedAt = performance.now();
    this.view = recordingView(this.recording, me, participants);
    // Joining while it is on says so too: everyone in the call learns they are recorded.
    const said = announcement(previous, this.recording, me);
    if (said) $("recording-announcer").textContent = said;
    this.render();
    return this.view;
  }

  render() {
    const view = this.view;
    const record = $("record-button");
    if (record) {
      record.hidden = !view.canRequest;
      record.disabled = false;
    }
    $("recording-stop").hidden = !view.canStop;
    $("recording-withdraw").hidden = !view.canWithdraw;
    $("recording-waiting").hidden = !view.waiting;
    $("recording-waiting").textContent = view.waiting || "";
    $("recording-notice").hidden = !view.notice;
    $("recording-notice").textContent = view.notice || "";
    const indicator = $("recording-indicator");
    indicator.hidden = !view.indicator;
    if (view.indicator) {
      indicator.dataset.state = view.indicator.kind;
      $("recording-label").textContent = view.indicator.label;
    }
    this.tick();
    clearInterval(this.ticker);
    this.ticker = view.state === ON ? setInterval(() => this.tick(), 1000) : null;
    this.showDialog(view.dialog);
  }

  elapsed() {
    return elapsedSeconds(this.recording, performance.now() - this.receivedAt);
  }

  tick() {
    $("recording-elapsed").textContent = formatElapsed(this.elapsed());
  }

  showDialog(dialog) {
    const justAnswered =
      dialog && this.answered?.recordingId === dialog.recordingId && performance.now() - this.answered.at < ANSWER_WAIT_MS;
    if (dialog && !justAnswered) {
      $("recording-consent-text").textContent = dialog.text;
      if (!this.dialog.open) {
        this.returnFocusTo = document.activeElement;
        this.dialog.showModal();
        this.dialog.focus(); // its name and question are read first; Allow and Decline follow
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
    $("recording-problem").textContent = text;
    $("recording-problem").hidden = !text;
  }

  notConnected() {
    $("recording-announcer").textContent = "Not connected; try again in a moment.";
  }

  request() {
    if (!this.send({ type: this.frames.RECORDING_REQUEST })) return this.notConnected();
    $("record-button").disabled = true; // until the room answers with a new state
  }

  stop() {
    if (this.recording.state === OFF) return;
    if (!this.send({ type: this.frames.RECORDING_STOP, recording_id: this.recording.id })) {
      this.notConnected();
    }
  }

  decide(decision) {
    const recordingId = this.view?.dialog?.recordingId || this.recording.id;
    if (!recordingId) return;
    if (!this.send({ type: this.frames.RECORDING_CONSENT, recording_id: recordingId, decision })) {
      return this.notConnected();
    }
    this.answered = { recordingId, at: performance.now() };
    if (this.dialog.open) this.closeDialog();
  }

  // For the test hook.
  get status() {
    return {
      ...structuredClone(this.recording),
      indicator: $("recording-indicator").hidden ? null : $("recording-indicator").textContent.replace(/\s+/g, " ").trim(),
      elapsed: this.elapsed(),
      dialogOpen: this.dialog.open,
    };
  }
}
