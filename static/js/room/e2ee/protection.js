// The media side of end-to-end encryption: every sender's frames go through the transform
// worker's encryptor and every receiver's through its decryptor (transform-worker.js), with
// RTCRtpScriptTransform (createEncodedStreams where a browser has only that). The transports
// (peer.js, calls.js) hand each transceiver here as they make it; transforms go on at once
// when encryption is on, or on every transceiver seen so far when it is turned on mid-call.
// Video is sent as VP8, whose header frame-crypto.js leaves in the clear for the SFU.

const STATS_STALE_MS = 3000;

// What a browser needs: a transform API, WebCrypto and module workers.
export function e2eeSupport(scope = globalThis) {
  const scriptTransform = typeof scope.RTCRtpScriptTransform === "function";
  const encodedStreams =
    typeof scope.RTCRtpSender === "function" &&
    typeof scope.RTCRtpSender.prototype.createEncodedStreams === "function";
  const crypto = !!scope.crypto?.subtle;
  const worker = typeof scope.Worker === "function";
  return {
    supported: (scriptTransform || encodedStreams) && crypto && worker,
    api: scriptTransform ? "RTCRtpScriptTransform" : encodedStreams ? "createEncodedStreams" : null,
  };
}

// The peer connections' extra configuration: createEncodedStreams works only on a connection
// made for it.
export function peerConnectionOptions(mode) {
  if (mode === "off") return {};
  const { api } = e2eeSupport();
  return api === "createEncodedStreams" ? { encodedInsertableStreams: true } : {};
}

export class MediaProtection extends EventTarget {
  constructor({ mode, workerUrl }) {
    super();
    this.mode = mode;
    this.workerUrl = workerUrl;
    this.active = false;
    this.worker = null;
    this.entries = []; // {transceiver, direction, kind, id, userId, protected}
    this.counter = 0;
    this.stats = new Map(); // transform id -> the worker's latest stats of it
    this.statsAt = 0;
    this.errors = [];
  }

  // A transceiver we send on (camera, microphone, screen). Before its offer or answer.
  sending(transceiver, kind) {
    this.track(transceiver, "encrypt", kind, null);
  }

  // A transceiver we receive someone's media on (userId when the transport knows whose).
  receiving(transceiver, kind, userId = null) {
    this.track(transceiver, "decrypt", kind, userId);
  }

  track(transceiver, direction, kind, userId) {
    if (this.mode === "off") return;
    const existing = this.entries.find((e) => e.transceiver === transceiver && e.direction === direction);
    if (existing) {
      if (userId !== null) existing.userId = userId;
      return;
    }
    if (kind === "video") preferVp8(transceiver);
    const entry = { transceiver, direction, kind, userId, id: `${direction}-${kind}-${++this.counter}`, protected: false };
    this.entries.push(entry);
    if (this.active) this.protect(entry);
  }

  // Encryption is on for this visit: from now on nothing goes out or comes in unencrypted.
  // Chromium applies a transform only to a transceiver that had it from the start (a
  // sender's before its offer, a receiver's while the offer is set): true when connections
  // already carry media, which must then start over on new ones.
  activate() {
    if (this.active || this.mode === "off") return false;
    this.active = true;
    const live = this.entries.length > 0;
    this.entries = [];
    this.worker = new Worker(this.workerUrl, { type: "module", name: "clinic-meet-e2ee" });
    this.worker.addEventListener("message", ({ data }) => this.onWorkerMessage(data));
    this.worker.addEventListener("error", (event) => this.errors.push(event.message || "worker error"));
    return live;
  }

  protect(entry) {
    if (entry.protected) return;
    const { transceiver, direction, kind, id } = entry;
    const endpoint = direction === "encrypt" ? transceiver.sender : transceiver.receiver;
    const options = { direction, kind, id };
    try {
      if (typeof RTCRtpScriptTransform === "function") {
        endpoint.transform = new RTCRtpScriptTransform(this.worker, options);
      } else {
        const { readable, writable } = endpoint.createEncodedStreams();
        this.worker.postMessage({ type: "streams", readable, writable, ...options }, [readable, writable]);
      }
      entry.protected = true;
    } catch (error) {
      // This stream cannot be encrypted: the indicator must not claim it is.
      this.errors.push(`${id}: ${error.message}`);
    }
  }

  // The epoch's key (session.js), for every transform of the worker.
  setKey({ keyId, key, leafIndex }) {
    const copy = key.slice().buffer;
    this.worker?.postMessage({ type: "key", keyId, key: copy, leafIndex }, [copy]);
  }

  reset() {
    this.worker?.postMessage({ type: "reset" });
  }

  onWorkerMessage(message) {
    if (message.type === "stats") {
      this.statsAt = performance.now();
      const before = this.stats;
      this.stats = new Map(message.transforms.map((t) => [t.id, t]));
      this.dispatchEvent(new CustomEvent("stats", { detail: { before, now: this.stats } }));
    } else if (message.type === "error") {
      this.errors.push(message.message);
    }
  }

  // The transceivers carrying media now, with their transform's counts.
  streams() {
    return this.entries
      .filter(({ transceiver, direction }) => carriesMedia(transceiver, direction))
      .map((entry) => ({ ...entry, stats: this.stats.get(entry.id) || null }));
  }

  // Every stream in and out goes through a transform whose worker reports it working.
  get allProtected() {
    if (!this.active) return false;
    const streams = this.streams();
    const fresh = performance.now() - this.statsAt < STATS_STALE_MS;
    // Frames counted by each: a transform set too late is in place yet sees none.
    return streams.length > 0 && fresh && streams.every((s) => s.protected && s.stats?.frames > 0);
  }

  close() {
    this.worker?.terminate();
    this.worker = null;
  }
}

function carriesMedia(transceiver, direction) {
  if (transceiver.currentDirection === "stopped" || transceiver.stopped) return false;
  if (direction === "encrypt") return !!transceiver.sender.track;
  const current = transceiver.currentDirection;
  return current === "recvonly" || current === "sendrecv";
}

// VP8 first (and alone, with its retransmission codec): frame-crypto's clear header is VP8's.
function preferVp8(transceiver) {
  const capabilities = globalThis.RTCRtpReceiver?.getCapabilities?.("video");
  if (!capabilities || !transceiver.setCodecPreferences) return;
  const codecs = capabilities.codecs.filter((codec) => /^video\/(VP8|rtx)$/i.test(codec.mimeType));
  try {
    transceiver.setCodecPreferences(codecs);
  } catch {
    try {
      transceiver.setCodecPreferences(codecs.filter((codec) => /VP8/i.test(codec.mimeType)));
    } catch (error) {
      console.warn("VP8 preference not set", error);
    }
  }
}
