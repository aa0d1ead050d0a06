// What the call shows of end-to-end encryption: a lock and "End-to-end encrypted" only while
// every stream in and out goes through the encryption (protection.js) under the group's key
// (session.js), and otherwise why not; the safety number both people can read to each other,
// marked when it changed and when they verified it; the doctor's switch (E2EE=optional).

import { $ } from "../dom.js";

// A decryption failure this recent still shows.
const FAILURE_SHOWS_MS = 4000;

// The page's words for where encryption stands (pure: tested in tests/js/e2ee-panel.test.mjs).
export function e2eeSummary({ on, supported, ready, allProtected, failing, failure }) {
  if (!on) return { state: "off", text: "Not end-to-end encrypted" };
  if (!supported) return { state: "unsupported", text: "Not end-to-end encrypted: this browser cannot encrypt media" };
  if (failure) return { state: "failed", text: "Not end-to-end encrypted: the key exchange failed" };
  if (failing) return { state: "failed", text: "Media that cannot be decrypted is blocked: it was altered on its way" };
  if (!ready) return { state: "joining", text: "Setting up end-to-end encryption…" };
  if (!allProtected) return { state: "joining", text: "Encrypting every stream…" };
  return { state: "encrypted", text: "End-to-end encrypted" };
}

// Decryption failures (altered frames) between two of the worker's stats reports.
export function newFailures(before, now) {
  let count = 0;
  for (const [id, stats] of now) {
    if (stats.direction !== "decrypt") continue;
    const earlier = before.get(id)?.failures || {};
    count += stats.failures.auth_failed - (earlier.auth_failed || 0);
    count += stats.failures.malformed - (earlier.malformed || 0);
  }
  return count;
}

export class E2eePanel {
  constructor({ session, protection, supported, isDoctor, send, frames, announce }) {
    this.session = session;
    this.protection = protection;
    this.supported = supported;
    this.failedAt = -Infinity;
    this.decryptFailures = 0;
    this.lastState = null;
    this.announce = announce;
    this.summary = e2eeSummary({ on: false });
    session.addEventListener("change", () => this.render());
    protection.addEventListener("stats", ({ detail }) => {
      const failures = newFailures(detail.before, detail.now);
      if (failures > 0) {
        this.failedAt = performance.now();
        this.decryptFailures += failures;
      }
      this.render();
    });
    $("e2ee-verify")?.addEventListener("click", () => session.markVerified());
    this.turnOn = isDoctor ? $("e2ee-turn-on") : null;
    this.turnOn?.addEventListener("click", () => {
      this.turnOn.disabled = true;
      send({ type: frames.E2EE_ON });
    });
  }

  // After each room.state (the switch) and each change of the group or the streams.
  render() {
    const session = this.session;
    if (this.turnOn) {
      this.turnOn.hidden = session.mode !== "optional" || session.on;
      if (!session.on) this.turnOn.disabled = false;
    }
    const bar = $("e2ee-bar");
    if (!bar) return;
    bar.hidden = session.mode === "off";
    this.summary = e2eeSummary({
      on: session.on,
      supported: this.supported,
      ready: session.ready,
      allProtected: this.protection.allProtected,
      failing: performance.now() - this.failedAt < FAILURE_SHOWS_MS,
      failure: session.failure,
    });
    bar.dataset.state = this.summary.state;
    $("e2ee-lock").textContent = this.summary.state === "encrypted" ? "🔒" : "🔓";
    $("e2ee-text").textContent = this.summary.text;
    if (this.summary.state !== this.lastState && this.lastState !== null) this.announce(this.summary.text);
    this.lastState = this.summary.state;
    const number = session.ready ? session.safetyNumber : null;
    $("e2ee-safety").hidden = number === null;
    $("e2ee-safety-number").textContent = number || "";
    $("e2ee-verified").hidden = !session.verified;
    $("e2ee-verify").hidden = number === null || session.verified;
    $("e2ee-changed").hidden = !(number && session.changed && !session.verified);
    $("e2ee-members").textContent = session.ready
      ? `In the encrypted group: ${session.members.map((m) => `${m.name} (${m.role})`).join(", ")}`
      : "";
    const problem = $("e2ee-problem");
    problem.hidden = !session.failure;
    problem.textContent = session.failure || "";
  }

  // For the test hook.
  get status() {
    const session = this.session;
    return {
      mode: session.mode,
      on: session.on,
      supported: this.supported,
      state: this.summary.state,
      text: this.summary.text,
      encrypted: this.summary.state === "encrypted",
      safetyNumber: session.ready ? session.safetyNumber : null,
      changed: session.changed,
      verified: session.verified,
      epoch: session.epoch,
      members: structuredClone(session.members),
      failure: session.failure,
      mlsFailures: session.mlsFailures,
      decryptFailures: this.decryptFailures,
      streams: this.protection.streams().map(({ id, direction, kind, protected: isProtected, stats }) => ({
        id,
        direction,
        kind,
        protected: isProtected,
        stats: stats ? structuredClone(stats) : null,
      })),
      errors: [...this.protection.errors],
    };
  }
}
