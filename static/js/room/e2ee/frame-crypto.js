// End-to-end encryption of one encoded media frame (RTCEncodedAudioFrame/VideoFrame's data)
// with AES-128-GCM under the group's media key (the MLS exporter; docs/e2ee.md). Pure: only
// WebCrypto (globalThis.crypto.subtle), so it runs in the transform worker and in node's tests.
//
//   clear || ciphertext+tag(16) || iv(12) || keyId(1)
//
// `clear` is the codec header the SFU and the receiver's depacketizer read (VP8's payload
// header, Opus's TOC byte); it is authenticated as additional data with the iv and key id.
// The iv is the sender's MLS leaf index (uint32 BE) and a per-key frame counter (uint64 BE):
// leaf indexes are unique in the group, so two senders never share an iv under one key.

export const TAG_BYTES = 16;
export const IV_BYTES = 12;
export const KEY_ID_BYTES = 1;
export const TRAILER_BYTES = TAG_BYTES + IV_BYTES + KEY_ID_BYTES;
export const KEY_BYTES = 16;

const CLEAR_BYTES = { audio: 1, videoKey: 10, videoDelta: 3 };
const UINT32 = 2 ** 32;

// Bytes left in the clear at the start of a frame of `length` bytes (or, at the receiver, of
// the plaintext: the encrypted frame's length less TRAILER_BYTES). VP8 (as Jitsi and Orange
// Meets): a key frame's 10-byte header, a delta frame's 3; Opus: its TOC byte.
export function clearBytes({ kind, type, length }) {
  let wanted;
  if (kind === "audio") wanted = CLEAR_BYTES.audio;
  else if (type === "key") wanted = CLEAR_BYTES.videoKey;
  else wanted = CLEAR_BYTES.videoDelta;
  return Math.max(0, Math.min(wanted, length));
}

function checkKeyId(keyId) {
  if (!Number.isInteger(keyId) || keyId < 0 || keyId > 0xff) {
    throw new RangeError(`key id ${keyId} is not a byte`);
  }
}

function importKey(key, usage) {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    throw new TypeError(`a media key is ${KEY_BYTES} bytes`);
  }
  return crypto.subtle.importKey("raw", key, { name: "AES-GCM" }, false, [usage]);
}

function equalBytes(a, b) {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}

function additionalData(clear, iv, keyId) {
  const aad = new Uint8Array(clear.length + IV_BYTES + KEY_ID_BYTES);
  aad.set(clear, 0);
  aad.set(iv, clear.length);
  aad[aad.length - 1] = keyId;
  return aad;
}

// Key changes are applied in the order they were asked for, though importing is async; a
// reset takes effect at once and cancels the changes still queued.
class KeyQueue {
  #tail = Promise.resolve();
  #generation = 0;

  run(step) {
    const generation = this.#generation;
    const result = this.#tail.then(async () => {
      const apply = await step();
      if (generation === this.#generation) apply();
    });
    this.#tail = result.catch(() => {});
    return result;
  }

  cancel() {
    this.#generation += 1;
  }
}

export class FrameEncryptor {
  #queue = new KeyQueue();
  #current = null; // {keyId, key (bytes), cryptoKey, leafIndex}
  // Next counter per key id and key: setting the same key again must not restart it (an iv
  // used twice under one key breaks GCM).
  #counters = new Map();

  setKey({ keyId, key, leafIndex }) {
    checkKeyId(keyId);
    if (!Number.isInteger(leafIndex) || leafIndex < 0 || leafIndex >= UINT32) {
      throw new RangeError(`leaf index ${leafIndex} is not a uint32`);
    }
    const bytes = Uint8Array.from(key);
    return this.#queue.run(async () => {
      const cryptoKey = await importKey(bytes, "encrypt");
      return () => {
        const known = this.#counters.get(keyId);
        if (known === undefined || !equalBytes(known.key, bytes) || known.leafIndex !== leafIndex) {
          this.#counters.set(keyId, { key: bytes, leafIndex, next: 0 });
        }
        this.#current = { keyId, cryptoKey, counter: this.#counters.get(keyId) };
      };
    });
  }

  // Forgets every key now; frames from here on are dropped until the next setKey.
  reset() {
    this.#queue.cancel();
    this.#current = null;
    this.#counters.clear();
  }

  get keyId() {
    return this.#current?.keyId ?? null;
  }

  // -> the encrypted frame, or null while there is no key: the caller drops the frame.
  async encrypt(data, { kind, type } = {}) {
    const current = this.#current;
    if (current === null) return null;
    const frame = new Uint8Array(data);
    const clearLength = clearBytes({ kind, type, length: frame.length });
    const clear = frame.subarray(0, clearLength);
    const counter = current.counter.next;
    current.counter.next += 1; // taken before the await: concurrent frames get their own
    const iv = new Uint8Array(IV_BYTES);
    const view = new DataView(iv.buffer);
    view.setUint32(0, current.counter.leafIndex);
    view.setUint32(4, Math.floor(counter / UINT32));
    view.setUint32(8, counter % UINT32);
    const sealed = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: "AES-GCM", iv, additionalData: additionalData(clear, iv, current.keyId), tagLength: 128 },
        current.cryptoKey,
        frame.subarray(clearLength),
      ),
    );
    const out = new Uint8Array(clearLength + sealed.length + IV_BYTES + KEY_ID_BYTES);
    out.set(clear, 0);
    out.set(sealed, clearLength);
    out.set(iv, clearLength + sealed.length);
    out[out.length - 1] = current.keyId;
    return out.buffer;
  }
}

export class FrameDecryptor {
  #queue = new KeyQueue();
  #graceMs;
  #now;
  #keys = new Map(); // keyId -> {cryptoKey, expiresAt: null (current) | ms}

  constructor({ graceMs = 5000, now = () => performance.now() } = {}) {
    this.#graceMs = graceMs;
    this.#now = now;
  }

  // The keys before it stay usable for graceMs: frames sent just before a sender switched
  // are still on their way, and senders switch at slightly different moments.
  setKey({ keyId, key }) {
    checkKeyId(keyId);
    const bytes = Uint8Array.from(new Uint8Array(key));
    return this.#queue.run(async () => {
      const cryptoKey = await importKey(bytes, "decrypt");
      return () => {
        const expiresAt = this.#now() + this.#graceMs;
        for (const entry of this.#keys.values()) entry.expiresAt ??= expiresAt;
        this.#keys.set(keyId, { cryptoKey, expiresAt: null });
      };
    });
  }

  // Forgets every key now.
  reset() {
    this.#queue.cancel();
    this.#keys.clear();
  }

  #forgetExpired() {
    const now = this.#now();
    for (const [keyId, entry] of this.#keys) {
      if (entry.expiresAt !== null && entry.expiresAt <= now) this.#keys.delete(keyId);
    }
  }

  // -> {data} only for a frame that authenticated; otherwise {error}, and nothing of it.
  async decrypt(data, { kind, type } = {}) {
    const frame = new Uint8Array(data);
    const plainLength = frame.length - TRAILER_BYTES;
    if (plainLength < 0) return { error: "malformed" };
    this.#forgetExpired();
    if (this.#keys.size === 0) return { error: "no_key" };
    const keyId = frame[frame.length - 1];
    const entry = this.#keys.get(keyId);
    if (entry === undefined) return { error: "unknown_key" };
    const clearLength = clearBytes({ kind, type, length: plainLength });
    const clear = frame.subarray(0, clearLength);
    const ivStart = frame.length - KEY_ID_BYTES - IV_BYTES;
    const iv = frame.slice(ivStart, ivStart + IV_BYTES);
    let opened;
    try {
      opened = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv, additionalData: additionalData(clear, iv, keyId), tagLength: 128 },
        entry.cryptoKey,
        frame.subarray(clearLength, ivStart),
      );
    } catch {
      return { error: "auth_failed" };
    }
    const out = new Uint8Array(clearLength + opened.byteLength);
    out.set(clear, 0);
    out.set(new Uint8Array(opened), clearLength);
    return { data: out.buffer };
  }
}
