// Uploading the recorder's chunks (static/js/room/recording/uploader.js): in order, retried
// with a capped backoff until acknowledged, refusals reported and not retried.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ChunkQueue, MemoryChunkStore } from "../../static/js/room/recording/chunk-queue.js";
import {
  MAX_DELAY_MS,
  REFUSED,
  RETRY,
  UPLOADED,
  Uploader,
  chunkUrl,
  refusedMessage,
  retryDelay,
  uploadOutcome,
} from "../../static/js/room/recording/uploader.js";

// A server that answers each PUT from a script: a status, or "offline" (no answer).
function fakeServer(script = {}) {
  const calls = [];
  const send = async (url, body, init) => {
    calls.push({ url, size: body.size, ...init });
    const answers = script[url];
    const answer = Array.isArray(answers) ? answers.shift() ?? 201 : answers ?? 201;
    if (answer === "offline") throw new TypeError("Failed to fetch");
    return typeof answer === "number" ? { ok: answer < 300, status: answer, data: {} } : answer;
  };
  return { calls, send };
}

function setUp(script) {
  const queue = new ChunkQueue(new MemoryChunkStore());
  const server = fakeServer(script);
  const waits = [];
  const uploader = new Uploader(queue, { send: server.send, sleep: async (ms) => waits.push(ms) });
  return { queue, server, waits, uploader };
}

const url = (seq, last = false) => chunkUrl({ recordingId: "r1", seq, last });

test("the chunk's address names the recording and seq; the last one says so", () => {
  assert.equal(chunkUrl({ recordingId: "r1", seq: 7, last: false }), "/api/recordings/r1/chunks/7/");
  assert.equal(chunkUrl({ recordingId: "r1", seq: 8, last: true }), "/api/recordings/r1/chunks/8/?last=1");
});

test("which answers are retried", () => {
  assert.equal(uploadOutcome(null), RETRY);
  for (const status of [500, 502, 503, 504, 408, 429]) assert.equal(uploadOutcome(status), RETRY, status);
  assert.equal(uploadOutcome(200), UPLOADED); // the same bytes again: a retry that had arrived
  assert.equal(uploadOutcome(201), UPLOADED);
  for (const status of [400, 403, 404, 409, 413]) assert.equal(uploadOutcome(status), REFUSED, status);
});

test("the retry delay grows and is capped", () => {
  assert.equal(retryDelay(0), 500);
  assert.equal(retryDelay(1), 1000);
  assert.ok(retryDelay(2) > retryDelay(1));
  assert.equal(retryDelay(30), MAX_DELAY_MS);
});

test("chunks go up one at a time, in seq order, as raw video bytes; each leaves the queue when acknowledged", async () => {
  const { queue, server, uploader } = setUp();
  await queue.add("r1", new Blob(["aaaa"]));
  await queue.add("r1", new Blob(["bb"]));
  await queue.add("r1", new Blob(["c"]), { last: true });
  await uploader.kick();
  assert.deepEqual(
    server.calls.map((c) => c.url),
    [url(0), url(1), url(2, true)],
  );
  assert.deepEqual(server.calls.map((c) => c.size), [4, 2, 1]);
  assert.ok(server.calls.every((c) => c.method === "PUT" && c.contentType === "video/webm"));
  assert.equal(queue.length, 0);
});

test("no answer or a server error: the same chunk again after a growing delay, the next one not before it", async () => {
  const { queue, server, waits, uploader } = setUp({ [url(0)]: ["offline", 503, "offline", 201] });
  await queue.add("r1", new Blob(["0"]));
  await queue.add("r1", new Blob(["1"]));
  await uploader.kick();
  assert.deepEqual(
    server.calls.map((c) => c.url),
    [url(0), url(0), url(0), url(0), url(1)],
  );
  assert.deepEqual(waits, [500, 1000, 2000]);
  assert.deepEqual(uploader.statuses, { none: 2, 503: 1, 201: 2 });
  assert.equal(queue.length, 0);
});

test("the backoff starts over for the next chunk", async () => {
  const { queue, waits, uploader } = setUp({ [url(0)]: [503, 201], [url(1)]: [503, 201] });
  await queue.add("r1", new Blob(["0"]));
  await queue.add("r1", new Blob(["1"]));
  await uploader.kick();
  assert.deepEqual(waits, [500, 500]);
});

test("a refusal stops that chunk (reported, dropped), and the next ones still go", async () => {
  const conflict = { ok: false, status: 409, data: { detail: "Chunk 0 was stored with different bytes" } };
  const { queue, server, waits, uploader } = setUp({ [url(0)]: [conflict] });
  const reports = [];
  uploader.addEventListener("refused", ({ detail }) => reports.push(detail));
  await queue.add("r1", new Blob(["0"]));
  await queue.add("r1", new Blob(["1"]));
  await uploader.kick();
  assert.deepEqual(server.calls.map((c) => c.url), [url(0), url(1)]);
  assert.deepEqual(waits, []); // never retried
  assert.equal(reports.length, 1);
  assert.equal(reports[0].status, 409);
  assert.deepEqual(uploader.refused, [
    { recordingId: "r1", seq: 0, status: 409, detail: "Chunk 0 was stored with different bytes" },
  ]);
  assert.equal(queue.length, 0);
  assert.match(refusedMessage(reports[0]), /could not be saved: Chunk 0 was stored with different bytes/);
  assert.match(refusedMessage({ status: 403, detail: "" }), /refused it \(403\)/);
});

test("a chunk added while a drain runs is uploaded by it; kicking twice runs one drain", async () => {
  const { queue, server, uploader } = setUp();
  await queue.add("r1", new Blob(["0"]));
  const first = uploader.kick();
  const second = uploader.kick();
  assert.equal(first, second);
  await queue.add("r1", new Blob(["1"]));
  await first;
  assert.deepEqual(server.calls.map((c) => c.url), [url(0), url(1)]);
});

test("closing stops the retries", async () => {
  const { queue, server, uploader } = setUp({ [url(0)]: "offline" });
  uploader.sleep = async () => uploader.close();
  await queue.add("r1", new Blob(["0"]));
  await uploader.kick();
  assert.equal(server.calls.length, 1);
  assert.equal(queue.length, 1); // still owed: the next page uploads it
});
