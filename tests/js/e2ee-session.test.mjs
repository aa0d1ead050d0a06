// The room's MLS group as the pages run it (static/js/room/e2ee/session.js), doctor and patient
// wired through a relay that stands in for the room socket, with the real MLS member; and the
// page's words for where encryption stands (e2ee/panel.js).
import assert from "node:assert/strict";
import { pathToFileURL } from "node:url";
import { test } from "node:test";

import { e2eeSummary, newFailures } from "../../static/js/room/e2ee/panel.js";
import { e2eeSupport } from "../../static/js/room/e2ee/protection.js";
import { E2eeSession, departedMembers, fromBase64, toBase64 } from "../../static/js/room/e2ee/session.js";

const bundleUrl = pathToFileURL("frontend/e2ee/mls.js").href;
const frames = { MLS: "mls", E2EE_ON: "e2ee.on" };
const kinds = { KEY_PACKAGE: "key_package", WELCOME: "welcome", COMMIT: "commit", REQUEST: "request" };
const DOCTOR = { participant_id: "d1", user_id: 2, role: "doctor", status: "admitted", display_name: "Dr. Aiko Tanaka" };
const PATIENT = { participant_id: "p1", user_id: 4, role: "patient", status: "admitted", display_name: "Hanako Suzuki" };

class FakeProtection {
  constructor() {
    this.keys = [];
    this.active = false;
  }
  activate() {
    this.active = true;
    return false;
  }
  setKey(key) {
    this.keys.push({ ...key, key: Buffer.from(key.key).toString("hex") });
  }
}

function memoryStorage() {
  const items = new Map();
  return { getItem: (k) => items.get(k) ?? null, setItem: (k, v) => items.set(k, String(v)) };
}

// The room: each page's `mls` frames reach whom the server would relay them to (docs/protocol.md).
function room({ tamper = null } = {}) {
  const pages = new Map(); // participant id -> {session, participant}
  const relay = (from) => (frame) => {
    const sender = pages.get(from).participant;
    for (const [pid, page] of pages) {
      if (pid === from) continue;
      const toDoctor = frame.kind === kinds.KEY_PACKAGE && page.participant.role === "doctor";
      const fromDoctor = sender.role === "doctor" && frame.kind !== kinds.KEY_PACKAGE;
      if (!toDoctor && !(fromDoctor && (frame.kind !== kinds.WELCOME || frame.to === pid))) continue;
      const data = tamper && frame.data ? tamper(frame) : frame.data || "";
      page.session.receive({ from, kind: frame.kind, data });
    }
  };
  return {
    pages,
    join(participant) {
      const protection = new FakeProtection();
      const session = new E2eeSession({
        mode: "required",
        bundleUrl,
        role: participant.role,
        send: relay(participant.participant_id),
        frames,
        kinds,
        protection,
        verifiedKey: "verified",
        storage: memoryStorage(),
        graceMs: 50,
      });
      pages.set(participant.participant_id, { session, participant, protection });
      return { session, protection };
    },
    leave(pid) {
      pages.get(pid).session.close();
      pages.delete(pid);
    },
    state() {
      const participants = [...pages.values()].map((p) => p.participant);
      for (const { session, participant } of pages.values()) {
        session.follow(
          { participants, e2ee: { on: true }, you: { participant_id: participant.participant_id, status: "admitted" } },
          { userId: participant.user_id, displayName: participant.display_name },
        );
      }
    },
  };
}

async function settled(...sessions) {
  for (let i = 0; i < 20; i += 1) {
    await Promise.all(sessions.map((s) => s.queue));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const lastKey = (protection) => protection.keys.at(-1);

test("doctor and patient agree on the key and the safety number; a reload makes new ones", async () => {
  const visit = room();
  const doctor = visit.join(DOCTOR);
  const patient = visit.join(PATIENT);
  visit.state();
  await settled(doctor.session, patient.session);
  assert.ok(doctor.session.ready && patient.session.ready);
  assert.equal(lastKey(doctor.protection).key, lastKey(patient.protection).key);
  assert.equal(lastKey(doctor.protection).keyId, lastKey(patient.protection).keyId);
  assert.notEqual(lastKey(doctor.protection).leafIndex, lastKey(patient.protection).leafIndex);
  const number = doctor.session.safetyNumber;
  assert.match(number, /^\d{4} \d{4}$/);
  assert.equal(patient.session.safetyNumber, number);
  assert.deepEqual(
    patient.session.members.map((m) => [m.userId, m.role, m.name]),
    [
      [2, "doctor", "Dr. Aiko Tanaka"],
      [4, "patient", "Hanako Suzuki"],
    ],
  );
  doctor.session.markVerified();
  assert.ok(doctor.session.verified);

  // The patient reloads: a new page (a new member) with the same user.
  visit.leave("p1");
  const again = visit.join({ ...PATIENT, participant_id: "p2" });
  visit.state();
  await settled(doctor.session, again.session);
  assert.equal(doctor.session.members.length, 2, "the old leaf was replaced, not kept");
  assert.equal(again.session.safetyNumber, doctor.session.safetyNumber);
  assert.notEqual(doctor.session.safetyNumber, number);
  assert.ok(doctor.session.changed && !doctor.session.verified);
  assert.equal(lastKey(again.protection).key, lastKey(doctor.protection).key);
});

test("whoever leaves is removed after the grace: a new key they do not have", async () => {
  const visit = room();
  const doctor = visit.join(DOCTOR);
  const patient = visit.join(PATIENT);
  visit.state();
  await settled(doctor.session, patient.session);
  const shared = lastKey(doctor.protection).key;
  visit.leave("p1");
  visit.state();
  await new Promise((resolve) => setTimeout(resolve, 120));
  await settled(doctor.session);
  assert.deepEqual(doctor.session.members.map((m) => m.userId), [2]);
  assert.notEqual(lastKey(doctor.protection).key, shared);
});

test("an altered MLS message is reported, and no key comes of it", async () => {
  const flip = (frame) => {
    const bytes = fromBase64(frame.data);
    bytes[40] ^= 1;
    return toBase64(bytes);
  };
  const visit = room({ tamper: flip });
  const doctor = visit.join(DOCTOR);
  const patient = visit.join(PATIENT);
  visit.state();
  await settled(doctor.session, patient.session);
  assert.ok(!patient.session.ready);
  assert.equal(patient.protection.keys.length, 0);
  assert.match(doctor.session.failure, /failed verification/);
  patient.session.close();
});

test("departed members are the admitted room's complement, by user, never us", () => {
  const members = [{ userId: 2 }, { userId: 4 }, { userId: 9 }];
  const participants = [
    { user_id: 2, status: "admitted" },
    { user_id: 4, status: "waiting" },
  ];
  assert.deepEqual(departedMembers(members, participants, 2), [4, 9]);
});

test("base64 round-trips any bytes, large ones too", () => {
  const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256);
  assert.deepEqual(fromBase64(toBase64(bytes)), bytes);
});

test("the lock shows only when every stream is encrypted and nothing fails", () => {
  const all = { on: true, supported: true, ready: true, allProtected: true, failing: false, failure: null };
  assert.equal(e2eeSummary(all).state, "encrypted");
  assert.equal(e2eeSummary(all).text, "End-to-end encrypted");
  assert.equal(e2eeSummary({ ...all, allProtected: false }).state, "joining");
  assert.equal(e2eeSummary({ ...all, ready: false }).state, "joining");
  assert.equal(e2eeSummary({ ...all, failing: true }).state, "failed");
  assert.equal(e2eeSummary({ ...all, failure: "x" }).state, "failed");
  assert.equal(e2eeSummary({ ...all, supported: false }).state, "unsupported");
  assert.equal(e2eeSummary({ ...all, on: false }).state, "off");
});

test("decryption failures are counted between two stats reports, decryptors only", () => {
  const stats = (authFailed, malformed, direction = "decrypt") => ({
    direction,
    failures: { auth_failed: authFailed, malformed, no_key: 0, unknown_key: 0 },
  });
  const before = new Map([["a", stats(2, 0)]]);
  const now = new Map([
    ["a", stats(5, 1)],
    ["b", stats(3, 0)],
    ["c", stats(9, 9, "encrypt")],
  ]);
  assert.equal(newFailures(before, now), 7);
});

test("a browser needs a transform API, WebCrypto and workers", () => {
  function Sender() {}
  Sender.prototype.createEncodedStreams = () => {};
  const full = { RTCRtpScriptTransform: function () {}, crypto: { subtle: {} }, Worker: function () {} };
  assert.deepEqual(e2eeSupport(full), { supported: true, api: "RTCRtpScriptTransform" });
  const fallback = { RTCRtpSender: Sender, crypto: { subtle: {} }, Worker: function () {} };
  assert.deepEqual(e2eeSupport(fallback), { supported: true, api: "createEncodedStreams" });
  assert.equal(e2eeSupport({ crypto: { subtle: {} }, Worker: function () {} }).supported, false);
  assert.equal(e2eeSupport({ ...full, crypto: {} }).supported, false);
});

test("a doctor's reload makes a new group that everyone in the call joins", async () => {
  const visit = room();
  const doctor = visit.join(DOCTOR);
  const patient = visit.join(PATIENT);
  visit.state();
  await settled(doctor.session, patient.session);
  const number = patient.session.safetyNumber;
  visit.leave("d1");
  const again = visit.join({ ...DOCTOR, participant_id: "d2" });
  visit.state();
  await settled(again.session, patient.session);
  assert.ok(again.session.ready && patient.session.ready);
  assert.equal(patient.session.safetyNumber, again.session.safetyNumber);
  assert.notEqual(patient.session.safetyNumber, number);
  assert.equal(lastKey(patient.protection).key, lastKey(again.protection).key);
  patient.session.close();
  again.session.close();
});

test("a patient's socket reconnecting (same page) keeps their place: no new epoch", async () => {
  const visit = room();
  const doctor = visit.join(DOCTOR);
  const patient = visit.join(PATIENT);
  visit.state();
  await settled(doctor.session, patient.session);
  const { epoch, safetyNumber } = doctor.session;
  // The same page, a new room entry: a new participant id for the same user.
  const page = visit.pages.get("p1");
  visit.pages.delete("p1");
  visit.pages.set("p9", { ...page, participant: { ...PATIENT, participant_id: "p9" } });
  visit.state();
  await new Promise((resolve) => setTimeout(resolve, 120));
  await settled(doctor.session, patient.session);
  assert.equal(doctor.session.epoch, epoch);
  assert.equal(patient.session.safetyNumber, safetyNumber);
  doctor.session.close();
  patient.session.close();
});

test("a member takes commits and welcomes from the doctor only", async () => {
  const visit = room();
  const doctor = visit.join(DOCTOR);
  const patient = visit.join(PATIENT);
  const other = { ...PATIENT, participant_id: "x1", user_id: 7, display_name: "Someone Else" };
  visit.state();
  await settled(doctor.session, patient.session);
  const keys = patient.protection.keys.length;
  const { commit } = await doctor.session.member.remove([4]);
  // The same (valid) commit, said to come from someone who is not the doctor: ignored.
  patient.session.participants = [...patient.session.participants, other];
  patient.session.receive({ from: "x1", kind: kinds.COMMIT, data: toBase64(commit) });
  await settled(patient.session);
  assert.ok(patient.session.member.inGroup);
  assert.equal(patient.protection.keys.length, keys);
  doctor.session.close();
  patient.session.close();
});
