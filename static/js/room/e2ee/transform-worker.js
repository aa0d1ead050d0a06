// The room's media encryption worker (a module worker): RTCRtpScriptTransform's
// `rtctransform` events, or createEncodedStreams's streams posted to it, are piped through
// frame-transform.js. One FrameEncryptor for all of this worker's senders, so their ivs
// never repeat under a key; one FrameDecryptor (keys are the group's, ivs carry the sender).
// Keys come from the page ({type: "key"}), once per MLS epoch, answered {type: "key-ready"}
// once in use (or {type: "error"}); stats go back every second.
import { FrameDecryptor, FrameEncryptor } from "./frame-crypto.js";
import { createFrameTransform, createTransformStats } from "./frame-transform.js";

const STATS_INTERVAL_MS = 1000;

const encryptor = new FrameEncryptor();
const decryptor = new FrameDecryptor();
const transforms = [];

function attach({ readable, writable, direction, kind, id }) {
  const stats = createTransformStats({ id, direction, kind });
  transforms.push(stats);
  readable
    .pipeThrough(createFrameTransform({ direction, kind, encryptor, decryptor, stats }))
    .pipeTo(writable)
    .catch(() => {}); // the sender or receiver went away: its stats stay, counted so far
}

self.onrtctransform = (event) => {
  const { transformer } = event;
  const { direction, kind, id } = transformer.options;
  attach({ readable: transformer.readable, writable: transformer.writable, direction, kind, id });
};

self.onmessage = ({ data: message }) => {
  if (message.type === "streams") {
    attach(message);
  } else if (message.type === "key") {
    // A key the worker cannot use is the page's bug: say so rather than fail silently.
    Promise.resolve()
      .then(() => {
        const key = new Uint8Array(message.key);
        return Promise.all([
          encryptor.setKey({ keyId: message.keyId, key, leafIndex: message.leafIndex }),
          decryptor.setKey({ keyId: message.keyId, key }),
        ]);
      })
      .then(
        // The page may wait for this before switching its own senders to the epoch.
        () => self.postMessage({ type: "key-ready", keyId: message.keyId }),
        (error) => self.postMessage({ type: "error", message: String(error) }),
      );
  } else if (message.type === "reset") {
    encryptor.reset();
    decryptor.reset();
  }
};

setInterval(() => {
  self.postMessage({ type: "stats", transforms: transforms.map((stats) => structuredClone(stats)) });
}, STATS_INTERVAL_MS);
