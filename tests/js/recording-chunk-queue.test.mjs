// The recorder's chunk queue (static/js/room/recording/chunk-queue.js): seqs from a counter per
// recording that survives a reload, upload order, acknowledgement.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ChunkQueue, MemoryChunkStore, uploadOrder } from "../../static/js/room/recording/chunk-queue.js";

const blob = (text) => new Blob([text]);

test("chunks get consecutive seqs per recording, in the order they were added", async () => {
  const queue = new ChunkQueue(new MemoryChunkStore());
  // Added without waiting for each other, as dataavailable events come.
  const added = await Promise.all([
    queue.add("a", blob("0")),
    queue.add("a", blob("1")),
    queue.add("b", blob("x")),
    queue.add("a", blob("2"), { last: true }),
  ]);
  assert.deepEqual(
    added.map(({ recordingId, seq, last }) => [recordingId, seq, last]),
    [
      ["a", 0, false],
      ["a", 1, false],
      ["b", 0, false],
      ["a", 2, true],
    ],
  );
  assert.equal(queue.length, 4);
  assert.deepEqual(
    (await queue.pending()).map(({ recordingId, seq }) => `${recordingId}${seq}`),
    ["a0", "a1", "a2", "b0"],
  );
});

test("acknowledged chunks go; the counter stays, so seqs never repeat", async () => {
  const queue = new ChunkQueue(new MemoryChunkStore());
  const first = await queue.add("a", blob("0"));
  await queue.remove(first);
  assert.equal(queue.length, 0);
  assert.equal((await queue.add("a", blob("1"))).seq, 1);
  assert.equal(await queue.nextSeq("a"), 2);
});

test("after a reload (a new queue on the same store) the sequence continues and what was held is still there", async () => {
  const store = new MemoryChunkStore();
  const before = new ChunkQueue(store);
  await before.add("a", blob("0"));
  await before.add("a", blob("1"));
  await before.remove((await before.pending())[0]);

  const after = new ChunkQueue(store);
  await after.ready;
  assert.equal(after.length, 1);
  assert.deepEqual((await after.pending()).map((c) => c.seq), [1]);
  assert.equal(await after.nextSeq("a"), 2);
  assert.equal((await after.add("a", blob("2"))).seq, 2);
});

test("once a recording's last chunk is acknowledged its counter is forgotten", async () => {
  const store = new MemoryChunkStore();
  const queue = new ChunkQueue(store);
  await queue.add("a", blob("0"));
  const last = await queue.add("a", blob("1"), { last: true });
  await queue.remove(last);
  assert.equal(await queue.nextSeq("a"), 0);
  assert.equal(queue.length, 1); // chunk 0 is still owed
});

test("a failing store rejects that call without blocking the next", async () => {
  const store = new MemoryChunkStore();
  const add = store.add.bind(store);
  let fail = true;
  store.add = async (...args) => {
    if (fail) {
      fail = false;
      throw new Error("quota");
    }
    return add(...args);
  };
  const queue = new ChunkQueue(store);
  await assert.rejects(queue.add("a", blob("0")), /quota/);
  assert.equal((await queue.add("a", blob("0"))).seq, 0); // no seq was used up by the failure
});

test("upload order: the recording queued first goes first, each by seq", () => {
  const chunks = [
    { recordingId: "new", seq: 0, queuedAt: 50 },
    { recordingId: "old", seq: 3, queuedAt: 40 },
    { recordingId: "old", seq: 2, queuedAt: 10 },
  ];
  assert.deepEqual(
    uploadOrder(chunks).map((c) => `${c.recordingId}${c.seq}`),
    ["old2", "old3", "new0"],
  );
});

// The browser's store, on an in-memory IndexedDB (fake-indexeddb, a devDependency).
test("IndexedDB: the counter advances with the chunk in one transaction and survives reopening", async () => {
  const { IDBFactory } = await import("fake-indexeddb");
  const { IndexedDbChunkStore } = await import("../../static/js/room/recording/chunk-queue.js");
  const indexedDB = new IDBFactory();
  const page = new ChunkQueue(new IndexedDbChunkStore(indexedDB, "test"));
  await page.ready;
  const added = await Promise.all([page.add("r1", blob("0")), page.add("r1", blob("1")), page.add("r1", blob("2"))]);
  assert.deepEqual(added.map((c) => c.seq), [0, 1, 2]);
  await page.remove(added[0]);

  const reloaded = new ChunkQueue(new IndexedDbChunkStore(indexedDB, "test"));
  await reloaded.ready;
  assert.equal(reloaded.length, 2);
  const held = await reloaded.pending();
  assert.deepEqual(held.map((c) => c.seq), [1, 2]);
  assert.equal(await held[0].blob.text(), "1");
  assert.equal((await reloaded.add("r1", blob("3"), { last: true })).seq, 3);
  await reloaded.remove({ recordingId: "r1", seq: 3, last: true });
  assert.equal(await reloaded.nextSeq("r1"), 0);
});
