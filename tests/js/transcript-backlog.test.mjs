// The audio on its way to the transcription service (static/js/room/transcript/backlog.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { StreamBacklog, audioFrame, backlogNotice } from "../../static/js/room/transcript/backlog.js";

const ms = (n, value = 1) => new Int16Array(n * 16).fill(value); // n ms of 16 kHz audio
const limits = { maxBacklogMs: 1000, maxFrameBytes: 32001 };

function drain(backlog) {
  const sent = [];
  for (let pcm = backlog.take(); pcm; pcm = backlog.take()) sent.push(pcm.length / 16);
  return sent;
}

test("audio goes out in order, at most max_frame_bytes − 1 of PCM per frame", () => {
  const backlog = new StreamBacklog({ limits: { maxBacklogMs: 20000, maxFrameBytes: 3201 } });
  backlog.push(ms(100, 1), 0);
  backlog.push(ms(100, 2), 0);
  const first = backlog.take();
  assert.equal(first.length, 1600); // 3200 bytes
  assert.ok(first.every((s) => s === 1));
  const second = backlog.take();
  assert.ok(second.every((s) => s === 2));
  assert.equal(backlog.take(), null);
  assert.equal(backlog.sentMs, 200);
});

test("never more than max_backlog_ms beyond what the server recognised; acks open the window again", () => {
  const backlog = new StreamBacklog({ limits });
  for (let i = 0; i < 30; i++) backlog.push(ms(100), i * 100);
  assert.deepEqual(drain(backlog), [1000]); // one frame fills the window
  assert.equal(backlog.queuedMs, 2000);
  backlog.ack({ received_ms: 1000, recognised_ms: 300 });
  assert.deepEqual(drain(backlog), [300]);
  assert.equal(backlog.sentMs - backlog.recognisedMs, 1000);
  backlog.ack({ received_ms: 1300, recognised_ms: 1300 });
  assert.deepEqual(drain(backlog), [1000]);
});

test("an ack that goes back (a stale one) does not widen the window", () => {
  const backlog = new StreamBacklog({ limits });
  backlog.push(ms(3000), 0);
  drain(backlog);
  backlog.ack({ received_ms: 1000, recognised_ms: 800 });
  backlog.ack({ received_ms: 1000, recognised_ms: 200 });
  assert.equal(backlog.recognisedMs, 800);
});

test("the local buffer is bounded: beyond it the oldest audio goes, and is counted", () => {
  const backlog = new StreamBacklog({ maxLocalMs: 1000, limits });
  backlog.push(ms(600, 1), 0);
  backlog.push(ms(600, 2), 100);
  assert.equal(backlog.queuedMs, 1000);
  assert.equal(backlog.lostMs, 200);
  backlog.push(ms(1500, 3), 200); // more than the bound at once: only its newest second stays
  assert.equal(backlog.queuedMs, 1000);
  assert.equal(backlog.lostMs, 1700); // 200 + the other 400 of the first, 600, 500
  assert.ok(backlog.take().every((s) => s === 3));
});

test("a frame the server refused is lost, counted, and no longer holds the window", () => {
  const backlog = new StreamBacklog({ limits: { maxBacklogMs: 1000, maxFrameBytes: 6401 } });
  backlog.push(ms(1500), 0);
  assert.deepEqual(drain(backlog), [200, 200, 200, 200, 200]);
  backlog.ack({ received_ms: 400, recognised_ms: 0 });
  assert.equal(backlog.refused(), 200);
  assert.equal(backlog.lostMs, 200);
  assert.deepEqual(drain(backlog), [200]);
});

test("“Transcript delayed” once audio has waited here more than 2 s; how much was lost", () => {
  const backlog = new StreamBacklog({ limits });
  backlog.push(ms(1500), 0);
  drain(backlog); // 1000 ms went, 500 ms wait here since 0
  assert.equal(backlog.delayed(2000), false);
  assert.equal(backlog.delayed(2001), true);
  assert.equal(backlogNotice([backlog], 2100), "Transcript delayed");
  backlog.ack({ received_ms: 1000, recognised_ms: 1000 });
  drain(backlog); // nothing waits any more
  assert.equal(backlog.delayed(5000), false);
  backlog.push(ms(100), 3000);
  const quiet = new StreamBacklog({ limits });
  assert.equal(backlogNotice([quiet], 5000), null);
  quiet.lostMs = 3400;
  assert.equal(backlogNotice([quiet, backlog], 5100), "Transcript delayed · 3 s of audio not transcribed");
});

test("a new socket starts an empty window and keeps what waits here", () => {
  const backlog = new StreamBacklog({ limits });
  backlog.push(ms(1500), 0);
  drain(backlog);
  backlog.connected({ maxBacklogMs: 20000, maxFrameBytes: 32001 });
  assert.equal(backlog.sentMs, 0);
  assert.deepEqual(drain(backlog), [500]);
});

test("a binary frame is the stream number, then the PCM little-endian", () => {
  const frame = audioFrame(3, Int16Array.from([1, -2]));
  assert.deepEqual([...frame], [3, 1, 0, 0xfe, 0xff]);
});
