// Uploads the chunk queue (chunk-queue.js) to `PUT /api/recordings/{id}/chunks/{seq}/`, one
// chunk at a time in order, each retried with a growing (capped) delay until the server
// acknowledges it (200: it had those bytes already; 201: stored). Only what may heal by itself
// is retried: no answer, a server error, 408 or 429. Any other refusal (409: different bytes
// under that seq, or the recording no longer takes chunks; 403, 404, 413) will not change by
// sending again: that chunk goes from the queue and the refusal is reported (the page says
// so). Requests go through http.js, the page's one fetch.

import { sendBytes } from "../http.js";

export const UPLOADED = "uploaded";
export const RETRY = "retry";
export const REFUSED = "refused";

const FIRST_DELAY_MS = 500;
export const MAX_DELAY_MS = 10_000;
const CONTENT_TYPE = "video/webm";

// `status`: the HTTP status, or null when no answer came.
export function uploadOutcome(status) {
  if (status === null || status === undefined) return RETRY;
  if (status === 200 || status === 201) return UPLOADED;
  if (status >= 500 || status === 408 || status === 429) return RETRY;
  return REFUSED;
}

// The wait before retry number `attempt` (0 for the first) of one chunk.
export function retryDelay(attempt) {
  return Math.min(FIRST_DELAY_MS * 2 ** attempt, MAX_DELAY_MS);
}

export function chunkUrl({ recordingId, seq, last }) {
  return `/api/recordings/${encodeURIComponent(recordingId)}/chunks/${seq}/${last ? "?last=1" : ""}`;
}

// What the page says about a refused chunk.
export function refusedMessage({ status, detail }) {
  const why = detail || `the server refused it (${status})`;
  return `Part of the recording could not be saved: ${why}.`;
}

// Events: "uploaded" {chunk, status}; "retrying" {chunk, status, delay}; "refused" {chunk,
// status, detail}; "idle" when the queue is empty.
export class Uploader extends EventTarget {
  constructor(queue, { send = sendBytes, delay = retryDelay, sleep } = {}) {
    super();
    this.queue = queue;
    this.send = send;
    this.delay = delay;
    this.sleep = sleep || ((ms) => this.wait(ms));
    this.running = null; // the drain in progress
    this.again = false; // a kick came while draining
    this.wakeUp = null;
    this.closed = false;
    this.statuses = {}; // HTTP status (or "none") -> answers seen, for the test hook
    this.refused = []; // [{recordingId, seq, status, detail}]
  }

  // New chunks may be waiting: upload them (starts a drain unless one runs).
  kick() {
    this.again = true;
    if (!this.running) {
      this.running = this.drain().finally(() => {
        this.running = null;
      });
    }
    return this.running;
  }

  // The network is back (the browser's `online`): retry now rather than after the delay.
  wake() {
    this.wakeUp?.();
  }

  close() {
    this.closed = true;
    this.wake();
  }

  wait(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wakeUp = null;
        resolve();
      }
      this.wakeUp = done;
    });
  }

  async drain() {
    let attempt = 0;
    let current = null;
    while (!this.closed) {
      this.again = false;
      const [chunk] = await this.queue.pending();
      if (!chunk) {
        if (this.again) continue;
        this.dispatchEvent(new Event("idle"));
        return;
      }
      if (!current || current.recordingId !== chunk.recordingId || current.seq !== chunk.seq) {
        current = chunk;
        attempt = 0;
      }
      // No answer (offline, or the server is away) reads as null.
      const answer = await this.send(chunkUrl(chunk), chunk.blob, {
        method: "PUT",
        contentType: CONTENT_TYPE,
      }).catch(() => null);
      const status = answer?.status ?? null;
      this.statuses[status ?? "none"] = (this.statuses[status ?? "none"] || 0) + 1;
      const outcome = uploadOutcome(status);
      if (outcome === UPLOADED) {
        await this.queue.remove(chunk);
        this.dispatchEvent(new CustomEvent("uploaded", { detail: { chunk, status } }));
      } else if (outcome === REFUSED) {
        await this.queue.remove(chunk);
        const detail = answer?.data?.detail || "";
        this.refused.push({ recordingId: chunk.recordingId, seq: chunk.seq, status, detail });
        this.dispatchEvent(new CustomEvent("refused", { detail: { chunk, status, detail } }));
      } else {
        const delay = this.delay(attempt);
        attempt += 1;
        this.dispatchEvent(new CustomEvent("retrying", { detail: { chunk, status, delay } }));
        await this.sleep(delay);
      }
    }
  }
}
