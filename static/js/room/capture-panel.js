// A capture's consent on the room page (templates/rooms/room.html), the same for every capture
// (recording/panel.js, transcript/panel.js; the rule: rooms/consent/): the doctor's request
// button, the consent dialog for whoever is asked, the indicator with its elapsed time, Stop for
// anyone, Withdraw consent for whoever allowed, the doctor's "Declined by …" notice, and the
// announcements a screen reader hears ("Recording started", "… paused", "… stopped"). What to
// show comes from the capture's consent-state.js.

import { $ } from "./dom.js";
import { OFF, ON, elapsedSeconds, formatElapsed } from "./recording/consent-state.js";

// A state sent before the room had our answer may still ask us: not again for this long (if
// the answer was lost with a dropped socket, the question comes back after it).
const ANSWER_WAIT_MS = 5000;

export class CapturePanel {
  // `send(frame)` -> whether it went (the socket is open); `frames` {request, consent, stop}:
  // the client frame types; `idKey`: their id field ("recording_id"); `prefix`: the elements'
  // ids ("recording" for #recording-stop …); `button`: the doctor's request button's id;
  // `read(state)`, `viewOf(capture, me, participants, state)`, `announce(previous, current,
  // me)`: the capture's consent-state; `dialogId(dialog)`: which capture a dialog asks about.
  constructor({ send, frames, idKey, prefix, button, read, viewOf, announce, dialogId }) {
    Object.assign(this, { send, frames, idKey, prefix, button, read, viewOf, announce, dialogId });
    this.capture = read(null);
    this.view = null;
    this.receivedAt = 0;
    this.ticker = null;
    this.returnFocusTo = null;
    this.answered = null; // {id, at}: our answer is on its way, do not ask again
    this.dialog = this.part("consent");
    $(button)?.addEventListener("click", () => this.request());
    this.part("stop").addEventListener("click", () => this.stop());
    this.part("withdraw").addEventListener("click", () => this.decide("withdraw"));
    this.part("allow").addEventListener("click", () => this.decide("allow"));
    this.part("decline").addEventListener("click", () => this.decide("decline"));
    // Escape on the question declines: nothing is captured without a yes.
    this.dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      this.decide("decline");
    });
  }

  part(name) {
    return $(`${this.prefix}-${name}`);
  }

  // A room.state arrived: `me` {userId, role}, the participants for names.
  update(state, me, participants) {
    const previous = this.capture;
    this.capture = this.read(state);
    this.receivedAt = performance.now();
    this.view = this.viewOf(this.capture, me, participants, state);
    // Joining while it is on says so too: everyone in the call learns of it.
    const said = this.announce(previous, this.capture, me);
    if (said) this.part("announcer").textContent = said;
    this.render();
    return this.view;
  }

  render() {
    const view = this.view;
    const request = $(this.button);
    if (request) {
      request.hidden = !view.canRequest;
      request.disabled = false;
    }
    this.part("stop").hidden = !view.canStop;
    this.part("withdraw").hidden = !view.canWithdraw;
    this.part("waiting").hidden = !view.waiting;
    this.part("waiting").textContent = view.waiting || "";
    this.part("notice").hidden = !view.notice;
    this.part("notice").textContent = view.notice || "";
    const indicator = this.part("indicator");
    indicator.hidden = !view.indicator;
    if (view.indicator) {
      indicator.dataset.state = view.indicator.kind;
      this.part("label").textContent = view.indicator.label;
    }
    this.tick();
    clearInterval(this.ticker);
    this.ticker = view.state === ON ? setInterval(() => this.tick(), 1000) : null;
    this.showDialog(view.dialog);
  }

  elapsed() {
    return elapsedSeconds(this.capture, performance.now() - this.receivedAt);
  }

  tick() {
    this.part("elapsed").textContent = formatElapsed(this.elapsed());
  }

  showDialog(dialog) {
    const id = dialog && this.dialogId(dialog);
    const justAnswered = dialog && this.answered?.id === id && performance.now() - this.answered.at < ANSWER_WAIT_MS;
    if (dialog && !justAnswered) {
      this.part("consent-text").textContent = dialog.text;
      const detail = this.part("consent-detail");
      if (detail) detail.textContent = dialog.detail || "";
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
    this.part("problem").textContent = text;
    this.part("problem").hidden = !text;
  }

  notConnected() {
    this.part("announcer").textContent = "Not connected; try again in a moment.";
  }

  request() {
    if (!this.send({ type: this.frames.request })) return this.notConnected();
    $(this.button).disabled = true; // until the room answers with a new state
  }

  stop() {
    if (this.capture.state === OFF) return;
    if (!this.send({ type: this.frames.stop, [this.idKey]: this.capture.id })) this.notConnected();
  }

  decide(decision) {
    const id = (this.view?.dialog && this.dialogId(this.view.dialog)) || this.capture.id;
    if (!id) return;
    if (!this.send({ type: this.frames.consent, [this.idKey]: id, decision })) return this.notConnected();
    this.answered = { id, at: performance.now() };
    if (this.dialog.open) this.closeDialog();
  }

  // For the test hook.
  get status() {
    const indicator = this.part("indicator");
    const text = (element) => element.textContent.replace(/\s+/g, " ").trim();
    return {
      ...structuredClone(this.capture),
      indicator: indicator.hidden ? null : text(indicator),
      elapsed: this.elapsed(),
      dialogOpen: this.dialog.open,
      dialogText: this.dialog.open ? text(this.dialog) : null,
    };
  }
}
