// The room's MLS member (frontend/e2ee/mls.js, bundled into static/js/room/e2ee/mls.bundle.js):
// a doctor commits, patients join from Welcomes, everyone derives the same media key and
// safety number, and damaged or foreign messages are refused without touching the state.
import assert from "node:assert/strict";
import { test } from "node:test";

import * as source from "../../frontend/e2ee/mls.js";

const { createMember, MlsError } = source;

const DOCTOR = { userId: 1, role: "doctor", name: "Dr Ada Lovelace" };
const PATIENT = { userId: 2, role: "patient", name: "Zoë Ünal" };
const RELATIVE = { userId: 3, role: "patient", name: "Sam" };

const hex = (bytes) => Buffer.from(bytes).toString("hex");

async function snapshot(member) {
  const { keyId, key, epoch } = await member.exportMediaKey();
  return { keyId, key: hex(key), epoch, safety: await member.safetyNumber(), members: member.members() };
}

async function assertAllEqual(members) {
  const [first, ...rest] = await Promise.all(members.map(snapshot));
  for (const other of rest) assert.deepEqual(other, first);
  return first;
}

// Flips one bit at positions spread over the whole message, the last bytes (tags) included.
function flippedCopies(bytes, count = 48) {
  const step = Math.max(1, Math.floor(bytes.length / count));
  const positions = new Set();
  for (let at = 0; at < bytes.length; at += step) positions.add(at);
  for (let at = Math.max(0, bytes.length - 20); at < bytes.length; at += 1) positions.add(at);
  return [...positions].map((at) => {
    const copy = Uint8Array.from(bytes);
    copy[at] ^= 0x01;
    return { at, copy };
  });
}

async function assertRefused(promise, codes) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof MlsError, `not an MlsError: ${error}`);
    assert.ok(codes.includes(error.code), `unexpected code ${error.code}`);
    return true;
  });
}

async function doctorWithPatient(mls = source) {
  const doctor = await mls.createMember(DOCTOR);
  const patient = await mls.createMember(PATIENT);
  await doctor.createGroup();
  const added = await doctor.addOrReplace(await patient.keyPackage());
  await patient.join(added.welcome);
  return { doctor, patient, added };
}

async function scenarioDoctorAndPatient(mls) {
  const { doctor, patient, added } = await doctorWithPatient(mls);
  assert.equal(added.commit, null, "alone, the doctor has nobody to send the commit to");
  assert.ok(added.welcome instanceof Uint8Array);
  assert.deepEqual(added.identity, PATIENT);
  assert.equal(patient.inGroup, true);
  assert.equal(patient.groupId, doctor.groupId);
  assert.match(doctor.groupId, /^[0-9a-f]{32}$/);
  assert.equal(patient.epoch, doctor.epoch);
  assert.equal(doctor.ownLeafIndex, 0);
  assert.equal(patient.ownLeafIndex, 1);
  const shared = await assertAllEqual([doctor, patient]);
  assert.equal(shared.key.length, 32, "16 bytes");
  assert.equal(shared.keyId, shared.epoch & 0xff);
  assert.match(shared.safety, /^\d{4} \d{4}$/);
  return { doctor, patient, shared };
}

test("the doctor creates, the patient joins from the welcome: same key, same safety number", async () => {
  const { shared } = await scenarioDoctorAndPatient(source);
  assert.deepEqual(shared.members, [
    { leafIndex: 0, ...DOCTOR },
    { leafIndex: 1, ...PATIENT },
  ]);
});

test("the bundle works in node the same way", async () => {
  const bundle = await import("../../static/js/room/e2ee/mls.bundle.js");
  await scenarioDoctorAndPatient(bundle);
  await assert.rejects(bundle.createMember({ userId: "1" }), bundle.MlsError);
});

test("a third member: the patient applies the commit, the newcomer joins, all equal", async () => {
  const { doctor, patient } = await doctorWithPatient();
  const before = await snapshot(doctor);
  const relative = await createMember(RELATIVE);
  const added = await doctor.addOrReplace(await relative.keyPackage());
  assert.ok(added.commit instanceof Uint8Array);
  await patient.processCommit(added.commit);
  await relative.join(added.welcome);
  const after = await assertAllEqual([doctor, patient, relative]);
  assert.equal(after.epoch, before.epoch + 1);
  assert.notEqual(after.key, before.key);
  assert.deepEqual(
    after.members.map((member) => member.userId),
    [1, 2, 3],
  );
});

test("removal changes the key and the number; the removed one is out and stays out", async () => {
  const { doctor, patient } = await doctorWithPatient();
  const relative = await createMember(RELATIVE);
  const added = await doctor.addOrReplace(await relative.keyPackage());
  await patient.processCommit(added.commit);
  await relative.join(added.welcome);
  const before = await assertAllEqual([doctor, patient, relative]);

  assert.equal(await doctor.remove([99]), null, "nobody with that id");
  const { commit } = await doctor.remove([RELATIVE.userId]);
  await patient.processCommit(commit);
  await relative.processCommit(commit);
  const after = await assertAllEqual([doctor, patient]);
  assert.notEqual(after.key, before.key);
  assert.notEqual(after.safety, before.safety);
  assert.deepEqual(
    after.members.map((member) => member.userId),
    [1, 2],
  );
  assert.equal(relative.inGroup, false);
  await assert.rejects(relative.exportMediaKey(), { code: "not_in_group" });

  const next = await doctor.remove([PATIENT.userId]);
  await assertRefused(relative.processCommit(next.commit), ["not_in_group"]);
});

test("replace: the same user with a new key package (a reload) is one new epoch, everyone equal", async () => {
  const { doctor, patient } = await doctorWithPatient();
  const relative = await createMember(RELATIVE);
  const added = await doctor.addOrReplace(await relative.keyPackage());
  await patient.processCommit(added.commit);
  await relative.join(added.welcome);
  const before = await snapshot(doctor);

  const reloaded = await createMember(PATIENT);
  const replaced = await doctor.addOrReplace(await reloaded.keyPackage());
  await relative.processCommit(replaced.commit);
  await reloaded.join(replaced.welcome);
  const after = await assertAllEqual([doctor, relative, reloaded]);
  assert.equal(after.epoch, before.epoch + 1);
  assert.notEqual(after.key, before.key);
  assert.deepEqual(
    after.members.map((member) => member.userId).sort(),
    [1, 2, 3],
  );
  // The old page, if it is still around, learns it was replaced and is out.
  await patient.processCommit(replaced.commit);
  assert.equal(patient.inGroup, false);
});

test("replacing the only other member needs no commit", async () => {
  const { doctor } = await doctorWithPatient();
  const reloaded = await createMember(PATIENT);
  const replaced = await doctor.addOrReplace(await reloaded.keyPackage());
  assert.equal(replaced.commit, null);
  await reloaded.join(replaced.welcome);
  await assertAllEqual([doctor, reloaded]);
});

test("a flipped byte anywhere in a commit is refused and changes nothing", async () => {
  const { doctor, patient } = await doctorWithPatient();
  const relative = await createMember(RELATIVE);
  const added = await doctor.addOrReplace(await relative.keyPackage());
  const before = await snapshot(patient);
  for (const { at, copy } of flippedCopies(added.commit)) {
    await assertRefused(patient.processCommit(copy), ["bad_message", "wrong_group"]).catch((error) => {
      throw new Error(`byte ${at}: ${error.message}`);
    });
    assert.equal(patient.inGroup, true);
  }
  assert.deepEqual(await snapshot(patient), before);
  await assertRefused(patient.processCommit(new Uint8Array([...added.commit, 0])), ["bad_message"]);
  await assertRefused(patient.processCommit(new Uint8Array(0)), ["bad_message"]);
  await patient.processCommit(added.commit);
  await relative.join(added.welcome);
  await assertAllEqual([doctor, patient, relative]);
});

test("a flipped byte anywhere in a welcome is refused; the good one still joins", async () => {
  const doctor = await createMember(DOCTOR);
  const patient = await createMember(PATIENT);
  await doctor.createGroup();
  const { welcome } = await doctor.addOrReplace(await patient.keyPackage());
  for (const { at, copy } of flippedCopies(welcome)) {
    await assertRefused(patient.join(copy), ["bad_message", "wrong_group"]).catch((error) => {
      throw new Error(`byte ${at}: ${error.message}`);
    });
    assert.equal(patient.inGroup, false);
  }
  await patient.join(welcome);
  await assertAllEqual([doctor, patient]);
});

test("a flipped byte anywhere in a key package is refused; the doctor's group is unchanged", async () => {
  const { doctor, patient } = await doctorWithPatient();
  const relative = await createMember(RELATIVE);
  const keyPackage = await relative.keyPackage();
  const before = await snapshot(doctor);
  for (const { at, copy } of flippedCopies(keyPackage)) {
    await assertRefused(doctor.addOrReplace(copy), ["bad_message", "bad_identity"]).catch((error) => {
      throw new Error(`byte ${at}: ${error.message}`);
    });
  }
  assert.deepEqual(await snapshot(doctor), before);
  const added = await doctor.addOrReplace(keyPackage);
  await patient.processCommit(added.commit);
  await relative.join(added.welcome);
  await assertAllEqual([doctor, patient, relative]);
});

test("a commit of another group, an old epoch or a replay is refused as wrong_group", async () => {
  const { doctor, patient } = await doctorWithPatient();
  const other = await doctorWithPatient();
  const third = await createMember(RELATIVE);
  const foreign = await other.doctor.addOrReplace(await third.keyPackage());
  await assertRefused(patient.processCommit(foreign.commit), ["wrong_group"]);

  const relative = await createMember(RELATIVE);
  const added = await doctor.addOrReplace(await relative.keyPackage());
  await patient.processCommit(added.commit);
  await assertRefused(patient.processCommit(added.commit), ["wrong_group"]);
  await assertAllEqual([doctor, patient]);
});

test("a welcome for somebody else's key package is refused", async () => {
  const doctor = await createMember(DOCTOR);
  const patient = await createMember(PATIENT);
  const stranger = await createMember(RELATIVE);
  await doctor.createGroup();
  const { welcome } = await doctor.addOrReplace(await patient.keyPackage());
  await stranger.keyPackage();
  await assertRefused(stranger.join(welcome), ["wrong_group"]);
  assert.equal(stranger.inGroup, false);
});

test("identities: checked, canonical, round-tripped through the credential", async () => {
  await assertRefused(createMember({ userId: "1", role: "doctor", name: "x" }), ["bad_identity"]);
  await assertRefused(createMember({ userId: 1, role: "doctor" }), ["bad_identity"]);
  await assertRefused(createMember(null), ["bad_identity"]);
  // Extra fields are not carried: the credential holds exactly userId, role and name.
  const doctor = await createMember({ ...DOCTOR, email: "ada@example.org" });
  assert.deepEqual(doctor.identity, DOCTOR);
  await doctor.createGroup();
  assert.deepEqual(doctor.members(), [{ leafIndex: 0, ...DOCTOR }]);
  const twin = await createMember(DOCTOR);
  await assertRefused(doctor.addOrReplace(await twin.keyPackage()), ["bad_identity"]);
});

test("before a group there is nothing to export or commit", async () => {
  const doctor = await createMember(DOCTOR);
  assert.equal(doctor.inGroup, false);
  await assertRefused(doctor.exportMediaKey(), ["not_in_group"]);
  await assertRefused(doctor.remove([2]), ["not_in_group"]);
  assert.throws(() => doctor.epoch, { code: "not_in_group" });
});
