// One media frame's end-to-end encryption (static/js/room/e2ee/frame-crypto.js) and the
// worker's TransformStream around it (frame-transform.js): the format, the keys' rotation
// with its grace, unique ivs, and that nothing unauthenticated or unencrypted gets through.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  clearBytes,
  FrameDecryptor,
  FrameEncryptor,
  IV_BYTES,
  TRAILER_BYTES,
} from "../../static/js/room/e2ee/frame-crypto.js";
import { createFrameTransform, createTransformStats } from "../../static/js/room/e2ee/frame-transform.js";

const KEY_A = Uint8Array.from({ length: 16 }, (_, index) => index + 1);
const KEY_B = Uint8Array.from({ length: 16 }, (_, index) => 200 - index);

function frameOf(length, seed = 7) {
  return Uint8Array.from({ length }, (_, index) => (index * 31 + seed) & 0xff).buffer;
}

const bytes = (buffer) => new Uint8Array(buffer);

function ivOf(encrypted) {
  const frame = bytes(encrypted);
  return Buffer.from(frame.subarray(frame.length - 1 - IV_BYTES, frame.length - 1)).toString("hex");
}

async function pair({ keyId = 1, key = KEY_A, leafIndex = 0, clock } = {}) {
  const encryptor = new FrameEncryptor();
  const decryptor = new FrameDecryptor(clock ? { graceMs: 5000, now: clock.now } : undefined);
  await encryptor.setKey({ keyId, key, leafIndex });
  await decryptor.setKey({ keyId, key });
  return { encryptor, decryptor };
}

function fakeClock() {
  const clock = { time: 1000, now: () => clock.time };
  return clock;
}

const KINDS = [
  { kind: "audio", type: undefined, clear: 1 },
  { kind: "video", type: "key", clear: 10 },
  { kind: "video", type: "delta", clear: 3 },
];

test("clear bytes: VP8 key 10, delta 3, Opus 1, never more than the frame", () => {
  assert.equal(clearBytes({ kind: "audio", length: 100 }), 1);
  assert.equal(clearBytes({ kind: "video", type: "key", length: 100 }), 10);
  assert.equal(clearBytes({ kind: "video", type: "delta", length: 100 }), 3);
  assert.equal(clearBytes({ kind: "video", type: "key", length: 4 }), 4);
  assert.equal(clearBytes({ kind: "audio", length: 0 }), 0);
});

for (const { kind, type, clear } of KINDS) {
  test(`round trip of a ${kind} ${type ?? ""} frame: clear header kept, the rest encrypted`, async () => {
    const { encryptor, decryptor } = await pair({ keyId: 9 });
    const input = frameOf(120);
    const encrypted = await encryptor.encrypt(input, { kind, type });
    assert.ok(encrypted instanceof ArrayBuffer);
    assert.equal(encrypted.byteLength, 120 + TRAILER_BYTES);
    assert.deepEqual(bytes(encrypted).subarray(0, clear), bytes(input).subarray(0, clear));
    assert.notDeepEqual(bytes(encrypted).subarray(clear, 120), bytes(input).subarray(clear));
    assert.equal(bytes(encrypted).at(-1), 9, "the key id is the last byte");
    const result = await decryptor.decrypt(encrypted, { kind, type });
    assert.deepEqual(bytes(result.data), bytes(input));
  });
}

test("frames shorter than their clear header round-trip too", async () => {
  const { encryptor, decryptor } = await pair();
  for (const length of [0, 1, 2, 5, 10, 11]) {
    const input = frameOf(length);
    const encrypted = await encryptor.encrypt(input, { kind: "video", type: "key" });
    const result = await decryptor.decrypt(encrypted, { kind: "video", type: "key" });
    assert.deepEqual(bytes(result.data), bytes(input), `length ${length}`);
  }
});

for (const { kind, type } of KINDS) {
  test(`a flipped byte anywhere in a ${kind} ${type ?? ""} frame fails, nothing of it returned`, async () => {
    const { encryptor, decryptor } = await pair({ keyId: 3 });
    // Another key installed, so a flipped key id can also land on a key that exists.
    await decryptor.setKey({ keyId: 2, key: KEY_B });
    await decryptor.setKey({ keyId: 3, key: KEY_A });
    const encrypted = bytes(await encryptor.encrypt(frameOf(40), { kind, type }));
    for (let at = 0; at < encrypted.length; at += 1) {
      for (const flip of [0x01, 0x80]) {
        const copy = Uint8Array.from(encrypted);
        copy[at] ^= flip;
        const result = await decryptor.decrypt(copy.buffer, { kind, type });
        assert.equal(result.data, undefined, `byte ${at}`);
        const expected = at === encrypted.length - 1 ? ["unknown_key", "auth_failed"] : ["auth_failed"];
        assert.ok(expected.includes(result.error), `byte ${at}: ${result.error}`);
      }
    }
  });
}

test("a frame too short for the trailer is malformed; a frame of another kind fails", async () => {
  const { encryptor, decryptor } = await pair();
  const encrypted = await encryptor.encrypt(frameOf(50), { kind: "video", type: "key" });
  assert.deepEqual(await decryptor.decrypt(encrypted.slice(0, TRAILER_BYTES - 1), { kind: "audio" }), {
    error: "malformed",
  });
  assert.deepEqual(await decryptor.decrypt(encrypted.slice(1), { kind: "video", type: "key" }), {
    error: "auth_failed",
  });
  // Read as a delta frame, the clear/encrypted split moves: it must not authenticate.
  assert.deepEqual(await decryptor.decrypt(encrypted, { kind: "video", type: "delta" }), {
    error: "auth_failed",
  });
});

test("no key: the encryptor gives null (drop, never clear), the decryptor no_key", async () => {
  const encryptor = new FrameEncryptor();
  const decryptor = new FrameDecryptor();
  assert.equal(await encryptor.encrypt(frameOf(30), { kind: "audio" }), null);
  const other = await pair();
  const encrypted = await other.encryptor.encrypt(frameOf(30), { kind: "audio" });
  assert.deepEqual(await decryptor.decrypt(encrypted, { kind: "audio" }), { error: "no_key" });
  assert.deepEqual(await other.decryptor.decrypt(encrypted, { kind: "audio" }), {
    data: frameOf(30),
  });
  // A reset is at once, and a key still being imported when it comes is not installed after.
  const late = other.encryptor.setKey({ keyId: 2, key: KEY_B, leafIndex: 0 });
  other.encryptor.reset();
  other.decryptor.reset();
  await late;
  assert.equal(await other.encryptor.encrypt(frameOf(30), { kind: "audio" }), null);
  assert.deepEqual(await other.decryptor.decrypt(encrypted, { kind: "audio" }), { error: "no_key" });
});

test("a wrong key does not authenticate; an unknown key id is unknown_key", async () => {
  const { encryptor } = await pair({ keyId: 4, key: KEY_A });
  const decryptor = new FrameDecryptor();
  await decryptor.setKey({ keyId: 4, key: KEY_B });
  const encrypted = await encryptor.encrypt(frameOf(30), { kind: "audio" });
  assert.deepEqual(await decryptor.decrypt(encrypted, { kind: "audio" }), { error: "auth_failed" });
  await decryptor.setKey({ keyId: 5, key: KEY_A });
  assert.deepEqual(await decryptor.decrypt(encrypted, { kind: "audio" }), { error: "auth_failed" });
  const strangerKeyId = await new FrameEncryptor();
  await strangerKeyId.setKey({ keyId: 77, key: KEY_A, leafIndex: 0 });
  const unknown = await strangerKeyId.encrypt(frameOf(30), { kind: "audio" });
  assert.deepEqual(await decryptor.decrypt(unknown, { kind: "audio" }), { error: "unknown_key" });
});

test("key rotation: the previous key works within the grace, not after", async () => {
  const clock = fakeClock();
  const { encryptor, decryptor } = await pair({ keyId: 1, key: KEY_A, clock });
  const old = await encryptor.encrypt(frameOf(30), { kind: "audio" });
  await encryptor.setKey({ keyId: 2, key: KEY_B, leafIndex: 0 });
  const fresh = await encryptor.encrypt(frameOf(30), { kind: "audio" });
  assert.equal(bytes(fresh).at(-1), 2, "the encryptor switches at once");

  clock.time += 100;
  await decryptor.setKey({ keyId: 2, key: KEY_B });
  clock.time += 4999;
  assert.deepEqual(bytes((await decryptor.decrypt(old, { kind: "audio" })).data), bytes(frameOf(30)));
  assert.deepEqual(bytes((await decryptor.decrypt(fresh, { kind: "audio" })).data), bytes(frameOf(30)));
  clock.time += 1;
  assert.deepEqual(await decryptor.decrypt(old, { kind: "audio" }), { error: "unknown_key" });
  clock.time += 60_000;
  assert.deepEqual(bytes((await decryptor.decrypt(fresh, { kind: "audio" })).data), bytes(frameOf(30)));
});

test("ivs never repeat: per frame, across leaf indexes, and when the same key is set again", async () => {
  const first = new FrameEncryptor();
  const second = new FrameEncryptor();
  await first.setKey({ keyId: 1, key: KEY_A, leafIndex: 0 });
  await second.setKey({ keyId: 1, key: KEY_A, leafIndex: 1 });
  const ivs = [];
  for (let index = 0; index < 20; index += 1) {
    ivs.push(ivOf(await first.encrypt(frameOf(20), { kind: "audio" })));
    ivs.push(ivOf(await second.encrypt(frameOf(20), { kind: "audio" })));
  }
  // The page re-sends the current key (a reconnect, a second sender): the counter goes on.
  await first.setKey({ keyId: 1, key: KEY_A, leafIndex: 0 });
  ivs.push(ivOf(await first.encrypt(frameOf(20), { kind: "audio" })));
  // Frames encrypted concurrently take counters of their own.
  const concurrent = await Promise.all(
    Array.from({ length: 10 }, () => second.encrypt(frameOf(20), { kind: "audio" })),
  );
  ivs.push(...concurrent.map(ivOf));
  assert.equal(new Set(ivs).size, ivs.length);
  assert.equal(ivs[0].slice(0, 8), "00000000");
  assert.equal(ivs[1].slice(0, 8), "00000001", "the leaf index leads the iv");
});

test("keys are checked: 16 bytes, a byte of key id, a uint32 leaf index", async () => {
  const encryptor = new FrameEncryptor();
  assert.throws(() => encryptor.setKey({ keyId: 256, key: KEY_A, leafIndex: 0 }), RangeError);
  assert.throws(() => encryptor.setKey({ keyId: 1, key: KEY_A, leafIndex: -1 }), RangeError);
  await assert.rejects(encryptor.setKey({ keyId: 1, key: KEY_A.subarray(0, 8), leafIndex: 0 }), TypeError);
  assert.equal(await encryptor.encrypt(frameOf(10), { kind: "audio" }), null);
});

async function run(transform, frames) {
  const out = [];
  const source = ReadableStream.from(frames);
  await source.pipeThrough(transform).pipeTo(new WritableStream({ write: (frame) => out.push(frame) }));
  return out;
}

test("the worker's transform: encrypts or drops, decrypts or drops, and counts", async () => {
  const encryptor = new FrameEncryptor();
  const decryptor = new FrameDecryptor();
  const sent = createTransformStats({ id: "video-out", direction: "encrypt", kind: "video" });
  const before = await run(createFrameTransform({ direction: "encrypt", kind: "video", encryptor, stats: sent }), [
    { data: frameOf(50), type: "key" },
  ]);
  assert.deepEqual(before, [], "no key yet: dropped, not sent in the clear");

  await encryptor.setKey({ keyId: 6, key: KEY_A, leafIndex: 2 });
  const plain = [
    { data: frameOf(50, 1), type: "key" },
    { data: frameOf(30, 2), type: "delta" },
    { data: frameOf(30, 3), type: "delta" },
  ];
  const encrypted = await run(
    createFrameTransform({ direction: "encrypt", kind: "video", encryptor, stats: sent }),
    plain.map((frame) => ({ ...frame, data: frame.data.slice(0) })),
  );
  assert.equal(encrypted.length, 3);
  assert.deepEqual(
    { frames: sent.frames, dropped: sent.dropped, noKey: sent.failures.no_key, lastKeyId: sent.lastKeyId },
    { frames: 4, dropped: 1, noKey: 1, lastKeyId: 6 },
  );

  await decryptor.setKey({ keyId: 6, key: KEY_A });
  const tampered = Uint8Array.from(bytes(encrypted[1].data));
  tampered[15] ^= 0x10;
  const received = createTransformStats({ id: "video-in", direction: "decrypt", kind: "video" });
  const decrypted = await run(createFrameTransform({ direction: "decrypt", kind: "video", decryptor, stats: received }), [
    encrypted[0],
    { data: tampered.buffer, type: "delta" },
    { data: new ArrayBuffer(5), type: "delta" },
    encrypted[2],
  ]);
  assert.deepEqual(
    decrypted.map((frame) => bytes(frame.data)),
    [bytes(plain[0].data), bytes(plain[2].data)],
  );
  assert.deepEqual(received.failures, { no_key: 0, unknown_key: 0, auth_failed: 1, malformed: 1 });
  assert.deepEqual([received.frames, received.dropped, received.lastKeyId], [4, 2, 6]);
});

test("an exception in a step drops the frame instead of passing it", async () => {
  const stats = createTransformStats({ id: "a", direction: "encrypt", kind: "audio" });
  const broken = {
    encrypt: async () => {
      throw new Error("boom");
    },
  };
  const out = await run(createFrameTransform({ direction: "encrypt", kind: "audio", encryptor: broken, stats }), [
    { data: frameOf(10) },
  ]);
  assert.deepEqual(out, []);
  assert.deepEqual([stats.frames, stats.dropped, stats.failures.malformed], [1, 1, 1]);
  assert.throws(() => createFrameTransform({ direction: "sideways", kind: "audio", stats }), TypeError);
});
