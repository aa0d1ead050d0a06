// The TransformStream the transform worker puts between an RTCRtpSender/Receiver's encoded
// frames and the network (RTCRtpScriptTransform, or createEncodedStreams's streams): every
// frame is encrypted or decrypted with frame-crypto.js, or dropped. Never passes a frame in
// the clear: no key yet, a failure or an exception all drop it.

export const FAILURES = ["no_key", "unknown_key", "auth_failed", "malformed"];

export function createTransformStats({ id, direction, kind }) {
  return {
    id,
    direction,
    kind,
    frames: 0,
    dropped: 0,
    failures: Object.fromEntries(FAILURES.map((failure) => [failure, 0])),
    lastKeyId: null,
  };
}

function drop(stats, failure) {
  stats.dropped += 1;
  stats.failures[failure] += 1;
}

async function encryptFrame(frame, { kind, encryptor, stats }) {
  const data = await encryptor.encrypt(frame.data, { kind, type: frame.type });
  if (data === null) return drop(stats, "no_key");
  frame.data = data;
  stats.lastKeyId = new Uint8Array(data).at(-1);
  return frame;
}

async function decryptFrame(frame, { kind, decryptor, stats }) {
  const result = await decryptor.decrypt(frame.data, { kind, type: frame.type });
  if (result.error !== undefined) return drop(stats, result.error);
  stats.lastKeyId = new Uint8Array(frame.data).at(-1);
  frame.data = result.data;
  return frame;
}

export function createFrameTransform({ direction, kind, encryptor, decryptor, stats }) {
  if (direction !== "encrypt" && direction !== "decrypt") {
    throw new TypeError(`direction ${direction} is neither encrypt nor decrypt`);
  }
  const step = direction === "encrypt" ? encryptFrame : decryptFrame;
  return new TransformStream({
    async transform(frame, controller) {
      stats.frames += 1;
      let out;
      try {
        out = await step(frame, { kind, encryptor, decryptor, stats });
      } catch {
        out = drop(stats, "malformed");
      }
      if (out !== undefined) controller.enqueue(out);
    },
  });
}
