// Reading a room.state (static/js/room/roster.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  othersIn,
  removableIn,
  roomTitle,
  selfState,
  sentAwayAndGone,
  tileCaption,
  visitStarted,
  waitingIn,
} from "../../static/js/room/roster.js";

const doctor = { participant_id: "d", user_id: 1, role: "doctor", status: "admitted" };
const patient = { participant_id: "p", user_id: 2, role: "patient", status: "admitted" };
const waiting = { participant_id: "w", user_id: 3, role: "patient", status: "waiting" };

test("the others are the admitted participants but us", () => {
  assert.deepEqual(othersIn([doctor, patient, waiting], 1), [patient]);
  assert.deepEqual(waitingIn([doctor, patient, waiting]), [waiting]);
  assert.deepEqual(removableIn([doctor, patient, waiting]), [patient]);
});

test("the visit starts when a patient is admitted", () => {
  assert.equal(visitStarted([doctor, waiting]), false);
  assert.equal(visitStarted([doctor, patient]), true);
});

test("sent away and no longer listed: gone for good", () => {
  const sentAway = new Set(["p", "w"]);
  // The patient is gone from the new state; the waiting one is still listed.
  assert.deepEqual(sentAwayAndGone(sentAway, [doctor, patient, waiting], [doctor, waiting]), [
    { pid: "p", entry: patient },
  ]);
  assert.deepEqual(sentAwayAndGone(new Set(["x"]), [doctor], [doctor]), [{ pid: "x", entry: null }]);
});

test("captions and the title say what is off and who waits", () => {
  const base = { display_name: "Hanako Suzuki", audio: true, video: true, screen: false };
  assert.equal(tileCaption(base), "Hanako Suzuki");
  assert.equal(
    tileCaption({ ...base, audio: false, video: false }),
    "Hanako Suzuki — microphone off, camera off",
  );
  assert.equal(tileCaption({ ...base, screen: true }), "Hanako Suzuki — sharing screen");
  assert.equal(selfState({ micOn: false, cameraOn: false }), " — muted, camera off");
  assert.equal(selfState({ micOn: true, cameraOn: true }), "");
  assert.equal(roomTitle(0), "Visit room · Clinic Meet");
  assert.equal(roomTitle(2), "(2 waiting) Visit room · Clinic Meet");
});
