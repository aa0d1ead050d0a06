// The recorder's chunks on their way to the server: each is kept on this device until the server
// acknowledges it, so a dropped network or a reload loses nothing (at most the chunk being
// made when the browser died). In IndexedDB in the browser; the same interface in memory for
// the unit tests (and as the fallback when IndexedDB is unavailable).
//
// A chunk: {recordingId, seq, blob, last, queuedAt}. `seq` comes from a counter per recording
// that is kept with the chunks and advanced in the same transaction as the chunk is stored,
// so after a reload the next MediaRecorder continues the sequence with no gap and no reuse.

const DB_NAME = "clinic-meet-recording";
const DB_VERSION = 1;

// Chunks in upload order: the oldest recording's first, each recording's by seq.
export function uploadOrder(chunks) {
  const firstQueued = new Map();
  for (const chunk of chunks) {
    const seen = firstQueued.get(chunk.recordingId);
    if (seen === undefined || chunk.queuedAt < seen) firstQueued.set(chunk.recordingId, chunk.queuedAt);
  }
  return [...chunks].sort(
    (a, b) =>
      firstQueued.get(a.recordingId) - firstQueued.get(b.recordingId) ||
      (a.recordingId < b.recordingId ? -1 : a.recordingId > b.recordingId ? 1 : 0) ||
      a.seq - b.seq,
  );
}

export class MemoryChunkStore {
  constructor() {
    this.chunks = new Map(); // "id/seq" -> chunk
    this.counters = new Map(); // recording id -> next seq
  }

  async add(recordingId, blob, { last = false, queuedAt = Date.now() } = {}) {
    const seq = this.counters.get(recordingId) ?? 0;
    const chunk = { recordingId, seq, blob, last, queuedAt };
    this.counters.set(recordingId, seq + 1);
    this.chunks.set(`${recordingId}/${seq}`, chunk);
    return chunk;
  }

  async list() {
    return uploadOrder([...this.chunks.values()]);
  }

  async remove(recordingId, seq) {
    this.chunks.delete(`${recordingId}/${seq}`);
  }

  async nextSeq(recordingId) {
    return this.counters.get(recordingId) ?? 0;
  }

  async forget(recordingId) {
    this.counters.delete(recordingId);
  }
}

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function committed(transaction) {
  return new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onabort = () => reject(transaction.error || new Error("IndexedDB transaction aborted"));
    transaction.onerror = () => reject(transaction.error);
  });
}

export class IndexedDbChunkStore {
  constructor(indexedDB = globalThis.indexedDB, name = DB_NAME) {
    this.opened = new Promise((resolve, reject) => {
      const request = indexedDB.open(name, DB_VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        db.createObjectStore("chunks", { keyPath: ["recordingId", "seq"] });
        db.createObjectStore("counters", { keyPath: "recordingId" });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
      request.onblocked = () => reject(new Error("IndexedDB is blocked by another page"));
    });
  }

  async add(recordingId, blob, { last = false, queuedAt = Date.now() } = {}) {
    const db = await this.opened;
    const transaction = db.transaction(["chunks", "counters"], "readwrite");
    const finished = committed(transaction);
    const counters = transaction.objectStore("counters");
    const seq = (await done(counters.get(recordingId)))?.next ?? 0;
    const chunk = { recordingId, seq, blob, last, queuedAt };
    counters.put({ recordingId, next: seq + 1 });
    transaction.objectStore("chunks").put(chunk);
    await finished;
    return chunk;
  }

  async list() {
    const db = await this.opened;
    const transaction = db.transaction("chunks", "readonly");
    return uploadOrder(await done(transaction.objectStore("chunks").getAll()));
  }

  async remove(recordingId, seq) {
    const db = await this.opened;
    const transaction = db.transaction("chunks", "readwrite");
    transaction.objectStore("chunks").delete([recordingId, seq]);
    await committed(transaction);
  }

  async nextSeq(recordingId) {
    const db = await this.opened;
    const transaction = db.transaction("counters", "readonly");
    return (await done(transaction.objectStore("counters").get(recordingId)))?.next ?? 0;
  }

  async forget(recordingId) {
    const db = await this.opened;
    const transaction = db.transaction("counters", "readwrite");
    transaction.objectStore("counters").delete(recordingId);
    await committed(transaction);
  }
}

// The queue the recorder adds to and the uploader takes from. Adds happen one after another
// (in the order the recorder made the chunks), whatever the store's own timing.
export class ChunkQueue extends EventTarget {
  constructor(store) {
    super();
    this.store = store;
    this.tail = Promise.resolve();
    this.count = 0; // chunks held, as of the last change (the test hook reads it)
    this.ready = this.refreshCount();
  }

  // The page's queue: IndexedDB when the browser has it, else memory (lost on reload).
  static forBrowser() {
    try {
      if (globalThis.indexedDB) return new ChunkQueue(new IndexedDbChunkStore());
    } catch (error) {
      console.warn("IndexedDB unavailable; recording chunks kept in memory", error);
    }
    return new ChunkQueue(new MemoryChunkStore());
  }

  get length() {
    return this.count;
  }

  async refreshCount() {
    this.count = (await this.store.list()).length;
    this.dispatchEvent(new Event("change"));
  }

  serially(step) {
    const result = this.tail.then(step);
    this.tail = result.catch(() => {});
    return result;
  }

  // Stores `blob` as the next chunk of `recordingId`; resolves to the chunk (with its seq).
  add(recordingId, blob, { last = false } = {}) {
    return this.serially(async () => {
      const chunk = await this.store.add(recordingId, blob, { last });
      await this.refreshCount();
      return chunk;
    });
  }

  // Every chunk held, in upload order.
  pending() {
    return this.serially(() => this.store.list());
  }

  // The server has it (acknowledged), or will never take it (given up): it goes. After a
  // recording's last chunk its counter goes too.
  remove(chunk) {
    return this.serially(async () => {
      await this.store.remove(chunk.recordingId, chunk.seq);
      if (chunk.last) await this.store.forget(chunk.recordingId);
      await this.refreshCount();
    });
  }

  nextSeq(recordingId) {
    return this.serially(() => this.store.nextSeq(recordingId));
  }
}
