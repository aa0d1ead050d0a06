// The doctor's live transcription: follows the room's `transcription` (consent-state.js): while
// it is on, captures each speaker (capture.js) and sends their audio over the audio socket
// (audio-socket.js); paused, it stops capturing and closes the socket (the server refuses audio
// then anyway); off, it also forgets what waited here. Nothing is captured in any other state.

import { AudioCapture } from "./capture.js";
import { AudioSocket } from "./audio-socket.js";

const SYNC_MS = 1000;

export class Transcriber {
  // `sources()`: [{userId, track}] of every speaker now (ours first); `onProblem(text)`.
  constructor({ path, sources, onProblem }) {
    this.sources = sources;
    this.onProblem = onProblem;
    this.socket = new AudioSocket(path);
    this.socket.addEventListener("problem", ({ detail }) => onProblem(detail.text));
    this.capture = null;
    this.transcriptionId = null;
    this.syncer = null;
  }

  follow({ id, sendsAudio, state }) {
    if (this.transcriptionId !== null && id !== this.transcriptionId) this.stop({ drop: true });
    if (sendsAudio) return this.start(id);
    this.stop({ drop: state === "off" });
  }

  start(id) {
    this.transcriptionId = id;
    this.socket.run();
    if (!this.capture) {
      this.capture = new AudioCapture({
        onPcm: (userId, pcm) => this.socket.audio(userId, pcm),
        onProblem: this.onProblem,
      });
      this.capture.start().catch(() => {});
      this.syncer = setInterval(() => this.sync(), SYNC_MS);
    }
    this.sync();
  }

  sync() {
    if (!this.capture) return;
    const sources = this.sources();
    this.socket.speakersAre(sources.filter((s) => s.track?.readyState === "live").map((s) => s.userId));
    this.capture.sync(sources).catch(() => {});
  }

  stop({ drop }) {
    clearInterval(this.syncer);
    this.syncer = null;
    this.capture?.stop();
    this.capture = null;
    this.socket.halt({ drop });
    if (drop) this.transcriptionId = null;
  }

  get status() {
    return { transcriptionId: this.transcriptionId, capturing: this.capture?.speakers ?? [], ...this.socket.status };
  }
}
