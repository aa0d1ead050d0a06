// What each page shows for a room.state's `transcription` object
// (static/js/room/transcript/consent-state.js, on recording/consent-state.js's reading).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  audioDestination,
  isEncrypted,
  transcriptionAnnouncement,
  transcriptionOf,
  transcriptionView,
} from "../../static/js/room/transcript/consent-state.js";

const doctor = { userId: 1, role: "doctor" };
const patient = { userId: 2, role: "patient" };
const participants = [
  { user_id: 1, display_name: "Dr. Aiko Tanaka", role: "doctor" },
  { user_id: 2, display_name: "Hanako Suzuki", role: "patient" },
];
const base = {
  id: "17",
  requested_by: { user_id: 1, display_name: "Dr. Aiko Tanaka" },
  allowed: [1],
  waiting_for: [2],
  seconds: 0,
  ended: null,
};
const frame = (transcription, extra = {}) => ({ type: "room.state", transcription, ...extra });

test("a server without the object, or `false`, reads as off: nothing shown, no audio sent", () => {
  for (const state of [frame(undefined), frame(false), { type: "room.state" }]) {
    const view = transcriptionView(transcriptionOf(state), doctor, participants);
    assert.equal(view.state, "off");
    assert.equal(view.indicator, null);
    assert.equal(view.sendsAudio, false);
    assert.equal(view.canRequest, true);
  }
});

test("pending: the patient is asked, told where the audio goes; the doctor waits", () => {
  const pending = transcriptionOf(frame({ ...base, state: "pending" }));
  const asked = transcriptionView(pending, patient, participants);
  assert.equal(asked.dialog.transcriptionId, "17");
  assert.match(asked.dialog.text, /^Dr\. Aiko Tanaka would like this visit transcribed/);
  assert.match(asked.dialog.detail, /clinic's transcription service/);
  assert.match(asked.dialog.detail, /kept with this visit/);
  assert.doesNotMatch(asked.dialog.detail, /encrypted/);
  const waiting = transcriptionView(pending, doctor, participants);
  assert.equal(waiting.dialog, null);
  assert.equal(waiting.waiting, "Waiting for Hanako Suzuki to allow transcription…");
  assert.equal(waiting.sendsAudio, false); // nothing leaves before everyone allowed
});

test("with end-to-end encryption on, the dialog says plainly the audio leaves the encrypted call", () => {
  const state = frame({ ...base, state: "pending" }, { e2ee: { mode: "optional", on: true } });
  assert.equal(isEncrypted(state), true);
  assert.equal(isEncrypted(frame(base)), false);
  const view = transcriptionView(transcriptionOf(state), patient, participants, { e2ee: isEncrypted(state) });
  assert.match(view.dialog.detail, /audio leaves the encrypted call for the clinic's transcription service/);
  assert.match(audioDestination({ e2ee: true }), /not/);
});

test("on: “Transcribing” for all, the doctor's page sends audio, the patient may withdraw, only the doctor sees the transcript", () => {
  const on = transcriptionOf(frame({ ...base, state: "on", allowed: [1, 2], waiting_for: [] }));
  const forDoctor = transcriptionView(on, doctor, participants);
  const forPatient = transcriptionView(on, patient, participants);
  for (const view of [forDoctor, forPatient]) {
    assert.deepEqual(view.indicator, { kind: "on", label: "Transcribing" });
    assert.equal(view.canStop, true);
  }
  assert.equal(forDoctor.sendsAudio, true);
  assert.equal(forPatient.sendsAudio, false);
  assert.equal(forPatient.canWithdraw, true);
  assert.equal(forDoctor.showsTranscript, true);
  assert.equal(forPatient.showsTranscript, false);
});

test("paused for a newcomer: no audio, the indicator says paused and whom it waits for", () => {
  const everyone = [...participants, { user_id: 3, display_name: "Ken Sato", role: "patient" }];
  const paused = transcriptionOf(frame({ ...base, state: "paused", allowed: [1, 2], waiting_for: [3] }));
  const view = transcriptionView(paused, doctor, everyone);
  assert.deepEqual(view.indicator, { kind: "paused", label: "Transcription paused" });
  assert.equal(view.waiting, "Waiting for Ken Sato to allow transcription…");
  assert.equal(view.sendsAudio, false);
});

test("ended notices and announcements speak of the transcription, not the recording", () => {
  const declined = transcriptionOf(
    frame({ ...base, state: "off", id: null, requested_by: null, allowed: [], waiting_for: [], ended: { transcription_id: "17", reason: "declined", by: { user_id: 2, display_name: "Hanako Suzuki" } } }),
  );
  assert.equal(transcriptionView(declined, doctor, participants).notice, "Transcription declined by Hanako Suzuki.");
  const pending = transcriptionOf(frame({ ...base, state: "pending" }));
  const on = transcriptionOf(frame({ ...base, state: "on", allowed: [1, 2], waiting_for: [] }));
  assert.equal(transcriptionAnnouncement(transcriptionOf(frame(false)), pending, patient), "Dr. Aiko Tanaka asks to transcribe this visit");
  assert.equal(transcriptionAnnouncement(pending, on, patient), "Transcription started");
  assert.equal(transcriptionAnnouncement(pending, declined, doctor), "Transcription declined by Hanako Suzuki.");
});
