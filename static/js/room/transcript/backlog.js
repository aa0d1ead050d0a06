// The audio of one speaker on its way to the transcription service (docs/protocol.md, "The
// audio socket"): what may be sent now, what waits here, and what was lost. Pure: no sockets.
//
// The server takes at most `max_backlog_ms` of a stream's audio beyond what its engine has
// recognised (its acks say how far that is) and refuses the rest. So the page sends only while
// sent − recognised stays within that window and holds the rest itself, up to MAX_LOCAL_MS
// (120 s); beyond that it drops the oldest audio and counts it, so the sidebar can say how much
// was not transcribed instead of losing it silently or growing without bound.

export const SAMPLES_PER_MS = 16; // 16 kHz mono
export const MAX_LOCAL_MS = 120_000;
// Audio held here longer than this makes the sidebar say "Transcript delayed".
export const DELAYED_AFTER_MS = 2_000;
// Until the server's audio.ready says otherwise (its documented values).
export const DEFAULT_LIMITS = Object.freeze({ maxBacklogMs: 20_000, maxFrameBytes: 32_001 });
// Not worth a frame: wait for more room in the window (or more audio).
const MIN_FRAME_MS = 20;

const msOf = (samples) => samples / SAMPLES_PER_MS;

export class StreamBacklog {
  constructor({ maxLocalMs = MAX_LOCAL_MS, limits = DEFAULT_LIMITS } = {}) {
    this.maxLocalSamples = maxLocalMs * SAMPLES_PER_MS;
    this.chunks = []; // [{pcm: Int16Array, queuedAt}] oldest first
    this.queuedSamples = 0;
    this.lostMs = 0; // dropped here (the bound) or refused by the server
    this.limits = { ...limits };
    this.connected();
  }

  // A new audio socket (or a new stream on it): the server's window starts empty.
  connected(limits = this.limits) {
    this.limits = { ...limits };
    this.sentMs = 0;
    this.recognisedMs = 0;
    this.inFlight = []; // ms of each frame sent, not yet counted as received or refused
    this.acceptedMs = 0; // of those sent, received by the server (its acks' received_ms)
  }

  get queuedMs() {
    return msOf(this.queuedSamples);
  }

  // Audio captured at `nowMs` (Int16Array, 16 kHz mono).
  push(pcm, nowMs) {
    if (!pcm.length) return;
    this.chunks.push({ pcm, queuedAt: nowMs });
    this.queuedSamples += pcm.length;
    while (this.queuedSamples > this.maxLocalSamples) {
      const excess = this.queuedSamples - this.maxLocalSamples;
      const oldest = this.chunks[0];
      if (oldest.pcm.length <= excess) {
        this.chunks.shift();
        this.queuedSamples -= oldest.pcm.length;
        this.lostMs += msOf(oldest.pcm.length);
      } else {
        oldest.pcm = oldest.pcm.subarray(excess);
        this.queuedSamples -= excess;
        this.lostMs += msOf(excess);
      }
    }
  }

  // The server's audio.ack for this stream.
  ack({ received_ms: receivedMs, recognised_ms: recognisedMs }) {
    if (Number.isFinite(recognisedMs)) this.recognisedMs = Math.max(this.recognisedMs, recognisedMs);
    if (!Number.isFinite(receivedMs)) return;
    while (this.inFlight.length && this.acceptedMs + this.inFlight[0] <= receivedMs) {
      this.acceptedMs += this.inFlight.shift();
    }
  }

  // The server refused a frame of this stream (audio_backlog): it is gone, and it no longer
  // counts against the window. The server refuses in order, so it is the oldest one not yet
  // counted as received.
  refused() {
    const ms = this.inFlight.shift() ?? 0;
    this.sentMs -= ms;
    this.lostMs += ms;
    return ms;
  }

  // How much the window takes now.
  roomMs() {
    return this.limits.maxBacklogMs - (this.sentMs - this.recognisedMs);
  }

  // The next PCM to send (Int16Array), or null while the window is full or nothing waits.
  // It is counted as sent.
  take() {
    const maxSamples = Math.floor((this.limits.maxFrameBytes - 1) / 2);
    const allowed = Math.min(maxSamples, Math.floor(this.roomMs() * SAMPLES_PER_MS), this.queuedSamples);
    if (allowed <= 0 || (allowed < MIN_FRAME_MS * SAMPLES_PER_MS && allowed < this.queuedSamples)) return null;
    const out = new Int16Array(allowed);
    let filled = 0;
    while (filled < allowed) {
      const chunk = this.chunks[0];
      const n = Math.min(chunk.pcm.length, allowed - filled);
      out.set(chunk.pcm.subarray(0, n), filled);
      filled += n;
      if (n === chunk.pcm.length) this.chunks.shift();
      else chunk.pcm = chunk.pcm.subarray(n);
    }
    this.queuedSamples -= allowed;
    const ms = msOf(allowed);
    this.sentMs += ms;
    this.inFlight.push(ms);
    return out;
  }

  // Since when the oldest audio waits here (null: nothing waits).
  waitingSince() {
    return this.chunks[0]?.queuedAt ?? null;
  }

  delayed(nowMs) {
    const since = this.waitingSince();
    return since !== null && nowMs - since > DELAYED_AFTER_MS;
  }

  clear() {
    this.chunks = [];
    this.queuedSamples = 0;
  }
}

// A binary frame of the audio socket: byte 0 the stream number, then the s16le PCM.
export function audioFrame(stream, pcm) {
  const frame = new Uint8Array(1 + pcm.byteLength);
  frame[0] = stream;
  frame.set(new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength), 1);
  return frame;
}

// What the sidebar says about the audio of every stream (null: nothing to say).
export function backlogNotice(backlogs, nowMs) {
  const delayed = backlogs.some((backlog) => backlog.delayed(nowMs));
  const lost = Math.round(backlogs.reduce((sum, backlog) => sum + backlog.lostMs, 0) / 1000);
  const parts = [];
  if (delayed) parts.push("Transcript delayed");
  if (lost > 0) parts.push(`${lost} s of audio not transcribed`);
  return parts.length ? parts.join(" · ") : null;
}
