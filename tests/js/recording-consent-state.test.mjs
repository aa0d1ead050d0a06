// What each page shows for a room.state's `recording` object (static/js/room/recording/consent-state.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  announcement,
  elapsedSeconds,
  endedNotice,
  formatElapsed,
  recordingOf,
  recordingView,
} from "../../static/js/room/recording/consent-state.js";

const doctor = { userId: 1, role: "doctor" };
const patient = { userId: 2, role: "patient" };
const participants = [
  { user_id: 1, display_name: "Dr. Aiko Tanaka", role: "doctor" },
  { user_id: 2, display_name: "Hanako Suzuki", role: "patient" },
];
const requestedBy = { user_id: 1, display_name: "Dr. Aiko Tanaka" };
const ID = "7a1c0f5e-1111-4222-8333-444455556666";

function frame(recording) {
  return recordingOf({ type: "room.state", recording });
}

test("an older server's `false` and a missing object read as off, with nothing to show", () => {
  for (const recording of [false, undefined, null]) {
    const view = recordingView(frame(recording), patient, participants);
    assert.equal(view.state, "off");
    assert.equal(view.indicator, null);
    assert.equal(view.dialog, null);
    assert.equal(view.notice, null);
    assert.equal(view.records, false);
  }
  assert.equal(recordingView(frame(false), doctor).canRequest, true);
  assert.equal(recordingView(frame(false), patient).canRequest, false);
});

test("pending: the patient is asked in the doctor's name; the doctor waits and may cancel", () => {
  const pending = frame({
    state: "pending",
    id: ID,
    requested_by: requestedBy,
    allowed: [1],
    waiting_for: [2],
    seconds: 0,
    ended: null,
  });
  const asked = recordingView(pending, patient, participants);
  assert.deepEqual(asked.dialog, {
    recordingId: ID,
    text: "Dr. Aiko Tanaka would like to record this visit for your medical record.",
  });
  assert.equal(asked.indicator, null);
  assert.equal(asked.canStop, false); // they answer in the dialog
  assert.equal(asked.canWithdraw, false);

  const waiting = recordingView(pending, doctor, participants);
  assert.equal(waiting.dialog, null);
  assert.equal(waiting.waiting, "Waiting for Hanako Suzuki to allow recording…");
  assert.equal(waiting.canRequest, false);
  assert.equal(waiting.canStop, true);
  assert.equal(waiting.records, false); // nothing is captured before everyone allowed
});

test("on: everyone sees the indicator; anyone may stop; the patient who allowed may withdraw; only the doctor's page records", () => {
  const on = frame({
    state: "on",
    id: ID,
    requested_by: requestedBy,
    allowed: [1, 2],
    waiting_for: [],
    seconds: 83.4,
    ended: null,
  });
  const forDoctor = recordingView(on, doctor, participants);
  const forPatient = recordingView(on, patient, participants);
  for (const view of [forDoctor, forPatient]) {
    assert.deepEqual(view.indicator, { kind: "on", label: "Recording" });
    assert.equal(view.canStop, true);
    assert.equal(view.dialog, null);
  }
  assert.equal(forDoctor.records, true);
  assert.equal(forPatient.records, false);
  assert.equal(forDoctor.canWithdraw, false);
  assert.equal(forPatient.canWithdraw, true);
});

test("paused for a newcomer: they are asked, the others see it paused and whom it waits for", () => {
  const third = { userId: 3, role: "patient" };
  const paused = frame({
    state: "paused",
    id: ID,
    requested_by: requestedBy,
    allowed: [1, 2],
    waiting_for: [3],
    seconds: 20,
    ended: null,
  });
  const everyone = [...participants, { user_id: 3, display_name: "Ken Sato", role: "patient" }];
  assert.ok(recordingView(paused, third, everyone).dialog);
  const forDoctor = recordingView(paused, doctor, everyone);
  assert.deepEqual(forDoctor.indicator, { kind: "paused", label: "Recording paused" });
  assert.equal(forDoctor.waiting, "Waiting for Ken Sato to allow recording…");
  assert.equal(forDoctor.records, false);
  assert.equal(recordingView(paused, patient, everyone).canWithdraw, true);
});

test("the doctor sees who declined; the one who declined reads it as theirs", () => {
  const declined = frame({
    state: "off",
    id: null,
    requested_by: null,
    allowed: [],
    waiting_for: [],
    seconds: 0,
    ended: { recording_id: ID, reason: "declined", by: { user_id: 2, display_name: "Hanako Suzuki" } },
  });
  assert.equal(recordingView(declined, doctor, participants).notice, "Recording declined by Hanako Suzuki.");
  assert.equal(recordingView(declined, patient, participants).notice, "Recording declined by you.");
  assert.equal(recordingView(declined, doctor, participants).canRequest, true);
});

test("every ended reason has words", () => {
  const by = { user_id: 2, display_name: "Hanako Suzuki" };
  const cases = {
    withdrawn: "Recording stopped: Hanako Suzuki withdrew consent.",
    stopped: "Recording stopped by Hanako Suzuki.",
    left: "Recording stopped: the doctor left the call.",
    visit_ended: "Recording stopped: the visit ended.",
    idle: "Recording stopped: nothing reached the server for too long.",
  };
  for (const [reason, words] of Object.entries(cases)) {
    assert.equal(endedNotice({ recording_id: ID, reason, by }, doctor), words);
  }
  assert.equal(endedNotice(null, doctor), null);
});

test("elapsed time counts on only while on, and reads as mm:ss (h:mm:ss past an hour)", () => {
  assert.equal(formatElapsed(0), "00:00");
  assert.equal(formatElapsed(12.9), "00:12");
  assert.equal(formatElapsed(83), "01:23");
  assert.equal(formatElapsed(3723), "1:02:03");
  assert.equal(elapsedSeconds({ state: "on", seconds: 10 }, 2500), 12.5);
  assert.equal(elapsedSeconds({ state: "paused", seconds: 10 }, 2500), 10);
});

test("screen readers hear started, paused, resumed and stopped, once each", () => {
  const off = frame(false);
  const base = { id: ID, requested_by: requestedBy, allowed: [1, 2], waiting_for: [], seconds: 0, ended: null };
  const pending = frame({ ...base, state: "pending", waiting_for: [2] });
  const on = frame({ ...base, state: "on" });
  const paused = frame({ ...base, state: "paused", waiting_for: [3] });
  const stopped = frame({ ...off, ended: { recording_id: ID, reason: "stopped", by: null } });
  assert.equal(announcement(off, pending, patient), "Dr. Aiko Tanaka asks to record this visit");
  assert.equal(announcement(pending, on, patient), "Recording started");
  assert.equal(announcement(on, on, patient), null);
  assert.equal(announcement(on, paused, patient), "Recording paused");
  assert.equal(announcement(paused, on, patient), "Recording resumed");
  assert.equal(announcement(on, stopped, patient), "Recording stopped");
  assert.equal(announcement(off, stopped, patient), null); // joining after it ended: nothing new
  const declined = frame({ ...off, ended: { recording_id: ID, reason: "declined", by: { user_id: 2, display_name: "Hanako Suzuki" } } });
  assert.equal(announcement(pending, declined, doctor), "Recording declined by Hanako Suzuki.");
});
