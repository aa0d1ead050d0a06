// The automatic logoff as a signed-in page shows it (visits/idle_logoff.py): a minute before
// the server signs the session out, a dialog offers "Stay signed in"; at the end the page goes
// to the login page. Every tab asks the server how long is left (which is no activity itself),
// so a tab that was used, or a "Stay signed in" in another tab, holds off this one's warning.
// While `busy()` (the visit room during the call) the page keeps the session alive instead.

const NO_ANSWER_RETRY_SECONDS = 5; // no connection: ask again soon
const WARNING_POLL_SECONDS = 5; // while warning: another tab may have kept the session alive
const EARLIEST_CHECK_SECONDS = 0.25;

export class SessionTimeout {
  constructor({ statusUrl, keepAliveUrl, csrfToken, busy, warning, signedOut }) {
    this.statusUrl = statusUrl;
    this.keepAliveUrl = keepAliveUrl;
    this.csrfToken = csrfToken;
    this.busy = busy;
    this.warning = warning; // { show(deadline), hide() }
    this.signedOut = signedOut;
    this.timer = null;
    this.warned = false;
  }

  start() {
    this.check();
  }

  async ask(url, init) {
    try {
      const response = await fetch(url, { credentials: "same-origin", ...init });
      if (!response.ok) return null;
      return await response.json();
    } catch {
      return null;
    }
  }

  keepAlive() {
    return this.ask(this.keepAliveUrl, {
      method: "POST",
      headers: { "X-CSRFToken": this.csrfToken },
    });
  }

  async stay() {
    this.settle(await this.keepAlive());
  }

  async check() {
    let state = await this.ask(this.statusUrl);
    if (state?.signedIn && state.secondsLeft <= state.warningSeconds && this.busy()) {
      state = await this.keepAlive();
    }
    this.settle(state);
  }

  settle(state) {
    clearTimeout(this.timer);
    if (!state) return this.later(NO_ANSWER_RETRY_SECONDS);
    if (!state.signedIn) {
      this.warning.hide();
      return this.signedOut();
    }
    if (state.secondsLeft > state.warningSeconds) {
      if (this.warned) this.warning.hide();
      this.warned = false;
      return this.later(state.secondsLeft - state.warningSeconds);
    }
    this.warned = true;
    this.warning.show(Date.now() + state.secondsLeft * 1000);
    // The end itself is the server's to say: ask again then (or sooner, for the other tabs).
    return this.later(Math.min(state.secondsLeft, WARNING_POLL_SECONDS));
  }

  later(seconds) {
    this.timer = setTimeout(() => this.check(), Math.max(seconds, EARLIEST_CHECK_SECONDS) * 1000);
  }
}
