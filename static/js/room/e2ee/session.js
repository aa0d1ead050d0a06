// The room's MLS group (docs/e2ee.md): who is in it, its epochs' keys, its safety number. The
// server only relays the messages (docs/protocol.md, "End-to-end encryption"); the doctor is the
// one committer: it makes the group, adds each admitted participant from their key package
// (replacing their earlier leaf after a reload), and removes whoever left. Everyone else sends
// a key package and follows the doctor's commits. Each epoch's media key goes to the media
// transforms (protection.js). The MLS code (ts-mls, ~40 KB gzip) is loaded only once encryption
// is on for the visit.

import { LEAVE_GRACE_MS, LeaveGrace } from "../grace.js";

// A member with no welcome this long after its key package sends a fresh one.
const KEY_PACKAGE_RETRY_MS = 6000;

export function toBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

export function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

// The group members that are no longer admitted in the room (by user id, never by socket: a
// reconnect keeps one's place in the group).
export function departedMembers(members, participants, myUserId) {
  const admitted = new Set(participants.filter((p) => p.status === "admitted").map((p) => p.user_id));
  return members.filter((m) => m.userId !== myUserId && !admitted.has(m.userId)).map((m) => m.userId);
}

export class E2eeSession extends EventTarget {
  constructor({
    mode,
    bundleUrl,
    role,
    send,
    frames,
    kinds,
    protection,
    verifiedKey,
    storage = globalThis.localStorage,
    graceMs = LEAVE_GRACE_MS,
  }) {
    super();
    this.mode = mode;
    this.bundleUrl = bundleUrl;
    this.role = role;
    this.send = send;
    this.frames = frames;
    this.kinds = kinds;
    this.protection = protection;
    this.verifiedKey = verifiedKey;
    this.storage = storage;
    this.on = false; // the visit's media is to be encrypted (room.state's e2ee.on)
    this.started = false;
    this.member = null;
    this.participants = [];
    this.userId = null;
    this.queue = Promise.resolve();
    this.retryTimer = null;
    this.safetyNumber = null; // of the latest epoch with someone besides us in it
    this.changed = false;
    this.epoch = null;
    this.members = [];
    this.failure = null; // what went wrong with the key exchange, for people
    this.mlsFailures = 0;
    // Someone who left may be reconnecting: their leaf goes after the room's leave grace.
    this.grace = new LeaveGrace((userId) => this.run(() => this.removeMembers([userId])), graceMs);
  }

  get isCommitter() {
    return this.role === "doctor";
  }

  // Each room.state: start once encryption is on and we are in the call; the committer keeps the
  // group's members to those admitted. Returns true when the media must start over on new
  // connections (encryption came on mid-call: protection.js).
  follow(state, { userId, displayName }) {
    this.participants = state.participants;
    this.userId = userId;
    this.displayName = displayName;
    this.on = !!state.e2ee?.on;
    if (!this.on || state.you.status !== "admitted" || userId === null) return false;
    if (!this.started) {
      this.started = true;
      const restart = this.protection.activate(); // before the transports make transceivers
      this.run(() => this.start());
      return restart;
    }
    if (this.isCommitter && this.member?.inGroup) {
      const userIds = this.member.members().map((m) => m.userId).filter((id) => id !== userId);
      const gone = new Set(departedMembers(this.member.members(), this.participants, userId));
      this.grace.update(userIds, (id) => !gone.has(id));
    }
    if (!this.isCommitter && !this.member?.inGroup && !this.retryTimer) this.run(() => this.sendKeyPackage());
    return false;
  }

  run(task) {
    this.queue = this.queue.then(task).catch((error) => this.failed(error));
    return this.queue;
  }

  async start() {
    const { createMember } = await import(this.bundleUrl);
    const identity = { userId: this.userId, role: this.role, name: this.displayName || "" };
    this.member = await createMember(identity);
    if (this.isCommitter) {
      await this.member.createGroup();
      await this.keysChanged();
      // A new group (this page is new): everyone already in the call joins it afresh.
      this.send({ type: this.frames.MLS, kind: this.kinds.REQUEST });
    } else {
      await this.sendKeyPackage();
    }
  }

  async sendKeyPackage() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (!this.member) return;
    const doctorHere = this.participants.some((p) => p.role === "doctor" && p.status === "admitted");
    if (doctorHere) {
      const keyPackage = await this.member.keyPackage();
      this.send({ type: this.frames.MLS, kind: this.kinds.KEY_PACKAGE, data: toBase64(keyPackage) });
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.member?.inGroup) this.run(() => this.sendKeyPackage());
    }, KEY_PACKAGE_RETRY_MS);
  }

  // An `mls` frame from the room.
  receive({ from, kind, data }) {
    if (!this.member && !this.started) return;
    this.run(() => this.handle(from, kind, data));
  }

  async handle(from, kind, data) {
    if (!this.member) return;
    const sender = this.participants.find((p) => p.participant_id === from);
    if (this.isCommitter) {
      if (kind === this.kinds.KEY_PACKAGE) await this.admitKeyPackage(sender, fromBase64(data));
      return;
    }
    if (sender?.role !== "doctor") return; // only the doctor commits (the server checks it too)
    try {
      if (kind === this.kinds.WELCOME) {
        await this.member.join(fromBase64(data));
        clearTimeout(this.retryTimer);
        this.retryTimer = null;
      } else if (kind === this.kinds.COMMIT) {
        if (!this.member.inGroup) return; // not for us yet: our welcome comes next
        await this.member.processCommit(fromBase64(data));
      } else if (kind === this.kinds.REQUEST) {
        return await this.sendKeyPackage(); // the doctor's page made a new group
      }
    } catch (error) {
      if (error.code === "wrong_group") return await this.sendKeyPackage(); // we missed a step
      throw error;
    }
    if (!this.member.inGroup) return await this.sendKeyPackage(); // removed: ask to come back
    this.failure = null;
    await this.keysChanged();
  }

  async admitKeyPackage(sender, bytes) {
    if (!sender || sender.status !== "admitted") return;
    const { commit, welcome, identity } = await this.member.addOrReplace(bytes);
    if (identity.userId !== sender.user_id || identity.role !== sender.role) {
      // A key package that names someone else than who sent it: take it out again.
      await this.removeMembers([identity.userId]);
      throw Object.assign(new Error("A key package did not match its sender."), { code: "bad_identity" });
    }
    if (commit) this.send({ type: this.frames.MLS, kind: this.kinds.COMMIT, data: toBase64(commit) });
    this.send({ type: this.frames.MLS, kind: this.kinds.WELCOME, to: sender.participant_id, data: toBase64(welcome) });
    this.failure = null;
    await this.keysChanged();
  }

  async removeMembers(userIds) {
    const result = await this.member.remove(userIds);
    if (!result) return;
    if (result.commit) this.send({ type: this.frames.MLS, kind: this.kinds.COMMIT, data: toBase64(result.commit) });
    await this.keysChanged();
  }

  // A new epoch: its media key to the transforms, its safety number to the page.
  async keysChanged() {
    const { keyId, key, epoch } = await this.member.exportMediaKey();
    this.protection.setKey({ keyId, key, leafIndex: this.member.ownLeafIndex });
    this.epoch = epoch;
    this.members = this.member.members();
    if (this.members.length > 1) {
      const number = await this.member.safetyNumber();
      if (this.safetyNumber !== null && number !== this.safetyNumber) this.changed = true;
      this.safetyNumber = number;
    }
    this.dispatchEvent(new Event("change"));
  }

  failed(error) {
    this.mlsFailures += 1;
    console.warn("e2ee", error);
    this.failure =
      error.code === "bad_message"
        ? "A key exchange message failed verification: it was altered on its way. Media stays blocked until the keys are agreed."
        : error.code === "bad_identity"
          ? "Someone's encryption keys did not match who they are: they were not let into the encrypted call."
          : `End-to-end encryption could not be set up: ${error.message}`;
    this.dispatchEvent(new Event("change"));
    // A member asks again with a fresh key package (the doctor replaces its leaf, whatever
    // epoch it was left at); a committer waits for the next key package.
    if (!this.isCommitter && this.member && !this.retryTimer) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.run(() => this.sendKeyPackage());
      }, KEY_PACKAGE_RETRY_MS);
    }
  }

  get verified() {
    return this.safetyNumber !== null && this.verifiedNumbers().includes(this.safetyNumber);
  }

  verifiedNumbers() {
    try {
      return JSON.parse(this.storage.getItem(this.verifiedKey) || "[]");
    } catch {
      return [];
    }
  }

  // "Mark as verified": remembered for this visit, in this browser; a new number is not.
  markVerified() {
    if (this.safetyNumber === null) return;
    this.storage.setItem(this.verifiedKey, JSON.stringify([...this.verifiedNumbers(), this.safetyNumber]));
    this.changed = false;
    this.dispatchEvent(new Event("change"));
  }

  // In the group with someone else, with a key.
  get ready() {
    return !!this.member?.inGroup && this.members.length > 1;
  }

  close() {
    clearTimeout(this.retryTimer);
    this.grace.clear();
  }
}
