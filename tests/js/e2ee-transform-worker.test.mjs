// The media encryption worker (static/js/room/e2ee/transform-worker.js) wired as a page would:
// streams posted to it (createEncodedStreams) and an rtctransform event, the key message to
// all of them, reset, and the stats it posts every second. `self` is a stand-in here.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setImmediate as settle } from "node:timers/promises";

import { FrameDecryptor, FrameEncryptor } from "../../static/js/room/e2ee/frame-crypto.js";

const KEY = Uint8Array.from({ length: 16 }, (_, index) => index * 3);

// A readable we push frames into, a writable that collects what comes out.
function pipeEnds() {
  let push;
  const readable = new ReadableStream({ start: (controller) => (push = (frame) => controller.enqueue(frame)) });
  const out = [];
  const writable = new WritableStream({ write: (frame) => out.push(frame) });
  return { readable, writable, push, out };
}

// Waits (a bounded number of event-loop turns, no clock) for the worker to get somewhere.
async function until(condition, what) {
  for (let round = 0; round < 2000; round += 1) {
    if (condition()) return;
    await settle();
  }
  assert.fail(`the worker never got to: ${what}`);
}

test("the worker encrypts and decrypts with the page's key, drops without one, reports stats", async (t) => {
  t.mock.timers.enable({ apis: ["setInterval"] });
  const posted = [];
  const worker = { postMessage: (message) => posted.push(message) };
  globalThis.self = worker;
  await import("../../static/js/room/e2ee/transform-worker.js");

  const microphone = pipeEnds();
  worker.onmessage({ data: { type: "streams", ...microphone, direction: "encrypt", kind: "audio", id: "mic" } });
  const remote = pipeEnds();
  worker.onrtctransform({
    transformer: {
      options: { direction: "decrypt", kind: "audio", id: "peer-7" },
      readable: remote.readable,
      writable: remote.writable,
    },
  });

  // The stats the worker would post now (its interval is on the mocked clock).
  const statsOf = (id) => {
    t.mock.timers.tick(1000);
    return posted.findLast((message) => message.type === "stats").transforms.find((entry) => entry.id === id);
  };
  const posts = (type) => posted.filter((message) => message.type === type);

  microphone.push({ data: new Uint8Array([1, 2, 3, 4]).buffer });
  await until(() => statsOf("mic").frames === 1, "the first frame");
  assert.deepEqual(microphone.out, [], "no key: dropped");

  worker.onmessage({ data: { type: "key", keyId: 4, key: KEY.slice().buffer, leafIndex: 3 } });
  await until(() => posts("key-ready").length === 1, "the key");
  assert.deepEqual(posts("key-ready"), [{ type: "key-ready", keyId: 4 }]);
  microphone.push({ data: new Uint8Array([1, 2, 3, 4]).buffer });
  await until(() => microphone.out.length === 1, "an encrypted frame");
  const decryptor = new FrameDecryptor();
  await decryptor.setKey({ keyId: 4, key: KEY });
  const opened = await decryptor.decrypt(microphone.out[0].data, { kind: "audio" });
  assert.deepEqual(new Uint8Array(opened.data), new Uint8Array([1, 2, 3, 4]));

  const sender = new FrameEncryptor();
  await sender.setKey({ keyId: 4, key: KEY, leafIndex: 0 });
  remote.push({ data: await sender.encrypt(new Uint8Array([9, 8, 7]).buffer, { kind: "audio" }) });
  const forged = new Uint8Array(40);
  forged[39] = 4; // the current key's id: it reaches the authentication and fails there
  remote.push({ data: forged.buffer });
  await until(() => statsOf("peer-7").dropped === 1, "the received frames");
  assert.deepEqual(
    remote.out.map((frame) => [...new Uint8Array(frame.data)]),
    [[9, 8, 7]],
  );

  worker.onmessage({ data: { type: "reset" } });
  microphone.push({ data: new Uint8Array([5]).buffer });
  await until(() => statsOf("mic").dropped === 2, "the frame after reset");
  assert.equal(microphone.out.length, 1, "after reset: dropped again");

  worker.onmessage({ data: { type: "key", keyId: 1, key: new ArrayBuffer(3), leafIndex: 0 } });
  await until(() => posts("error").length === 1, "the bad key's error");

  t.mock.timers.tick(1000);
  const stats = posted.at(-1);
  assert.equal(stats.type, "stats");
  assert.deepEqual(stats.transforms, [
    {
      id: "mic",
      direction: "encrypt",
      kind: "audio",
      frames: 3,
      dropped: 2,
      failures: { no_key: 2, unknown_key: 0, auth_failed: 0, malformed: 0 },
      lastKeyId: 4,
    },
    {
      id: "peer-7",
      direction: "decrypt",
      kind: "audio",
      frames: 2,
      dropped: 1,
      failures: { no_key: 0, unknown_key: 0, auth_failed: 1, malformed: 0 },
      lastKeyId: 4,
    },
  ]);
});
