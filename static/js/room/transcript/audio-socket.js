// The doctor's audio socket (docs/protocol.md, "The audio socket"): one stream per speaker,
// each speaker's PCM (capture.js) held in its StreamBacklog (backlog.js) and sent as binary
// frames while the server's window has room and the socket's own buffer is small; the
// server's acks widen the window, its partials and segments go to the transcript panel.
//
// It runs only while the room says the transcription is on (`run()` / `halt()` from
// transcriber.js). The server closes with 4409 when the transcription is no longer on: no
// reconnect then until the room says on again. Refusals (4401, 4403, 4404, 4429) are final;
// any other close reconnects with the room socket's backoff.

import { reconnectDelay } from "../reconnect.js";
import { DEFAULT_LIMITS, StreamBacklog, audioFrame, backlogNotice } from "./backlog.js";

export const NOT_ON = 4409;
const REFUSED = [4401, 4403, 4404, 4429];
const MAX_STREAMS = 16;
// Past this much unsent in the browser's own socket buffer, wait (the network is slow).
const MAX_BUFFERED_BYTES = 64 * 1024;
const PUMP_MS = 100;

export class AudioSocket extends EventTarget {
  // `path`: /ws/rooms/<room_id>/audio/. Events: "partial" {stream, speaker, text},
  // "segment" {segment}, "notice" {text | null}, "problem" {text}.
  constructor(path) {
    super();
    this.path = path;
    this.ws = null;
    this.wanted = false; // the room says on
    this.refused = false;
    this.attempt = 0;
    this.retry = null;
    this.limits = { ...DEFAULT_LIMITS };
    this.ready = false; // audio.ready came on this socket
    this.speakers = new Map(); // user id -> {stream, backlog, opened}
    this.pumper = null;
    this.lastNotice = null;
    // For the test hook.
    this.socketsOpened = 0;
    this.framesSent = 0;
    this.bytesSent = 0;
    this.refusedFrames = 0;
  }

  get isOpen() {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  // The transcription is on: connect (again) if we are not.
  run() {
    this.wanted = true;
    if (!this.ws && !this.retry && !this.refused) this.connect();
    if (!this.pumper) this.pumper = setInterval(() => this.pump(), PUMP_MS);
  }

  // Not on (paused, stopped, declined, the visit over): close and keep nothing for later when
  // it stopped (`drop`), keep what waits when it is only paused.
  halt({ drop = false } = {}) {
    this.wanted = false;
    clearTimeout(this.retry);
    this.retry = null;
    clearInterval(this.pumper);
    this.pumper = null;
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000);
    if (drop) {
      this.speakers.clear();
      this.refused = false; // a new transcription may be allowed a socket again
    }
    this.showNotice();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + this.path);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.ready = false;
    this.socketsOpened += 1;
    ws.addEventListener("open", () => (this.attempt = 0));
    ws.addEventListener("message", (event) => {
      if (this.ws !== ws || typeof event.data !== "string") return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onFrame(frame);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return; // one we closed ourselves
      this.ws = null;
      this.ready = false;
      for (const speaker of this.speakers.values()) speaker.opened = false;
      if (event.code === NOT_ON) return; // until room.state says on again (run())
      if (REFUSED.includes(event.code)) {
        this.refused = true;
        this.problem(`The transcription service refused this page's audio (${event.code}).`);
        return;
      }
      if (!this.wanted) return;
      const delay = reconnectDelay(this.attempt);
      this.attempt += 1;
      this.retry = setTimeout(() => {
        this.retry = null;
        if (this.wanted) this.connect();
      }, delay);
    });
  }

  onFrame(frame) {
    switch (frame.type) {
      case "audio.ready":
        this.limits = {
          maxBacklogMs: frame.max_backlog_ms ?? DEFAULT_LIMITS.maxBacklogMs,
          maxFrameBytes: frame.max_frame_bytes ?? DEFAULT_LIMITS.maxFrameBytes,
        };
        this.ready = true;
        for (const [userId, speaker] of this.speakers) this.openStream(userId, speaker);
        return;
      case "stream.opened": {
        const speaker = this.byStream(frame.stream);
        if (speaker) speaker.opened = true;
        return this.pump();
      }
      case "audio.ack":
        this.byStream(frame.stream)?.backlog.ack(frame);
        return this.pump();
      case "transcript.partial":
        return this.emit("partial", { stream: frame.stream, speaker: frame.speaker, text: frame.text || "" });
      case "transcript.segment":
        return this.emit("segment", { segment: frame.segment });
      case "transcription.failed": {
        // The engine gave up on that stream: open it again (a new turn starts).
        const speaker = this.byStream(frame.stream);
        if (speaker) this.reopen(speaker);
        return this.problem(frame.message || "The transcription of one voice failed; retrying.");
      }
      case "error":
        if (frame.code === "audio_backlog") {
          this.refusedFrames += 1;
          this.byStream(frame.stream)?.backlog.refused();
          return this.pump(); // its room in the window is free again

        }
        // A stream.open refused (the speaker not admitted yet, a stream taken): forget that
        // speaker here; the next sync asks again.
        if (Number.isInteger(frame.stream)) {
          const refused = this.byStream(frame.stream);
          if (refused && !refused.opened) this.forget(refused);
        }
        return console.warn("audio socket error", frame.code, frame.message);
    }
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  problem(text) {
    this.emit("problem", { text });
  }

  byStream(stream) {
    for (const speaker of this.speakers.values()) if (speaker.stream === stream) return speaker;
    return null;
  }

  freeStream() {
    const used = new Set([...this.speakers.values()].map((speaker) => speaker.stream));
    for (let n = 0; n < MAX_STREAMS; n++) if (!used.has(n)) return n;
    return null;
  }

  // The speakers whose audio we capture now (user ids): streams for newcomers, stream.close
  // for those gone (their last turn is finished and saved).
  speakersAre(userIds) {
    const wanted = new Set(userIds);
    for (const [userId, speaker] of this.speakers) {
      if (wanted.has(userId)) continue;
      if (this.isOpen && speaker.opened) this.sendJson({ type: "stream.close", stream: speaker.stream });
      this.speakers.delete(userId);
    }
    for (const userId of wanted) {
      if (this.speakers.has(userId)) continue;
      const stream = this.freeStream();
      if (stream === null) continue; // more than 16 voices: the rest go untranscribed
      const speaker = { stream, backlog: new StreamBacklog({ limits: this.limits }), opened: false };
      this.speakers.set(userId, speaker);
      this.openStream(userId, speaker);
    }
  }

  openStream(userId, speaker) {
    if (!this.isOpen || !this.ready) return;
    speaker.backlog.connected(this.limits);
    this.sendJson({ type: "stream.open", stream: speaker.stream, speaker_user_id: userId });
  }

  forget(speaker) {
    for (const [userId, s] of this.speakers) if (s === speaker) this.speakers.delete(userId);
    this.showNotice();
  }

  reopen(speaker) {
    const userId = [...this.speakers].find(([, s]) => s === speaker)?.[0];
    speaker.opened = false;
    if (userId !== undefined) this.openStream(userId, speaker);
  }

  // Captured PCM of one speaker (Int16Array, 16 kHz mono).
  audio(userId, pcm) {
    if (!this.wanted) return; // not on: nothing is kept, nothing goes
    this.speakers.get(userId)?.backlog.push(pcm, performance.now());
  }

  sendJson(frame) {
    this.ws.send(JSON.stringify(frame));
  }

  pump() {
    if (this.isOpen && this.ready && this.wanted) {
      for (const speaker of this.speakers.values()) {
        if (!speaker.opened) continue;
        while (this.ws.bufferedAmount < MAX_BUFFERED_BYTES) {
          const pcm = speaker.backlog.take();
          if (!pcm) break;
          const frame = audioFrame(speaker.stream, pcm);
          this.ws.send(frame);
          this.framesSent += 1;
          this.bytesSent += frame.byteLength;
        }
      }
    }
    this.showNotice();
  }

  showNotice() {
    const text = backlogNotice([...this.speakers.values()].map((speaker) => speaker.backlog), performance.now());
    if (text === this.lastNotice) return;
    this.lastNotice = text;
    this.emit("notice", { text });
  }

  get status() {
    return {
      open: this.isOpen,
      socketsOpened: this.socketsOpened,
      framesSent: this.framesSent,
      bytesSent: this.bytesSent,
      refusedFrames: this.refusedFrames,
      streams: [...this.speakers].map(([userId, s]) => ({
        userId,
        stream: s.stream,
        opened: s.opened,
        queuedMs: s.backlog.queuedMs,
        lostMs: s.backlog.lostMs,
      })),
      notice: this.lastNotice,
    };
  }
}
