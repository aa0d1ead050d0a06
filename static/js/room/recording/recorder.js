// The doctor's capture of a recording: a canvas compositing everyone's video side by side (a
// screen share is the sharer's video, so it takes their tile) and a WebAudio mix of our
// microphone and every remote audio track, recorded by MediaRecorder in 2 s chunks that go to
// the chunk queue (chunk-queue.js) and from there to the server (uploader.js).
//
// It follows the room's recording state (consent-state.js): on -> start (or resume), paused
// -> pause, off -> stop, and the final chunk is queued as the last one. After a reload the
// page starts a new MediaRecorder for a recording that is still on; its chunks continue the
// seq where the queue's counter stands, and the server starts a new segment at its WebM header.
//
// What to draw and mix comes from `sources()`: {tiles: [{name, track}], audio: [track]}, asked
// again on every frame, so people joining, reconnecting or sharing their screen show up.

import { COMPOSITE, fitInto, tileBoxes } from "./layout.js";

export const MIME_TYPE = "video/webm;codecs=vp8,opus";
export const TIMESLICE_MS = 2000;
export const VIDEO_BITS_PER_SECOND = 500_000;

export function canRecord() {
  return typeof MediaRecorder !== "undefined" && MediaRecorder.isTypeSupported(MIME_TYPE);
}

// A steady tick: the page's own timers (and requestAnimationFrame) slow down or stop in a
// hidden tab, a worker's do not, so the composite keeps its frame rate behind another tab.
// The worker sends the next tick only once the page has handled the last one, so a busy page
// skips frames rather than piling up ticks it cannot keep up with.
const TICK_WORKER_URL = new URL("./tick-worker.js", import.meta.url);

function startTicking(intervalMs, tick) {
  const run = () => {
    const started = performance.now();
    tick();
    return Math.max(0, intervalMs - (performance.now() - started));
  };
  try {
    const worker = new Worker(TICK_WORKER_URL);
    worker.onmessage = () => {
      worker.postMessage(run());
    };
    worker.postMessage(intervalMs);
    return () => worker.terminate();
  } catch {
    let timer = setTimeout(function again() {
      timer = setTimeout(again, run());
    }, intervalMs);
    return () => clearTimeout(timer);
  }
}

// The latest picture of a video track, to draw from. With MediaStreamTrackProcessor (Chrome)
// the frames come as VideoFrames in memory, which a CPU canvas draws cheaply; a video element
// playing the track is the fallback (its frames may have to come back from the GPU process,
// which costs far more on a loaded machine).
class LatestFrame {
  constructor(original, { width, height }) {
    this.frame = null;
    this.closed = false;
    // A copy of the track scaled down to the tile in the capture pipeline (cheap there),
    // rather than a full-size camera frame scaled on every draw.
    const track = original.clone();
    this.track = track;
    track.applyConstraints({ width: { max: width }, height: { max: height } }).catch(() => {});
    if (typeof MediaStreamTrackProcessor === "function") {
      this.reader = new MediaStreamTrackProcessor({ track }).readable.getReader();
      this.pump();
    } else {
      this.video = document.createElement("video");
      this.video.muted = true;
      this.video.playsInline = true;
      this.video.srcObject = new MediaStream([track]);
      this.video.play().catch(() => {}); // muted video may play without a gesture
    }
  }

  async pump() {
    while (!this.closed) {
      const { value, done } = await this.reader.read().catch(() => ({ done: true }));
      if (done) return;
      this.frame?.close(); // only the newest is kept: a camera has few frame buffers
      this.frame = value;
      if (this.closed) this.frame.close();
    }
  }

  get image() {
    if (this.video) return this.video.videoWidth ? this.video : null;
    return this.frame;
  }

  get size() {
    if (this.video) return [this.video.videoWidth, this.video.videoHeight];
    return [this.frame?.displayWidth || 0, this.frame?.displayHeight || 0];
  }

  close() {
    this.closed = true;
    this.reader?.cancel().catch(() => {});
    this.frame?.close();
    this.frame = null;
    if (this.video) this.video.srcObject = null;
    this.track.stop();
  }
}

class Composite {
  constructor() {
    this.canvas = document.createElement("canvas");
    this.canvas.width = COMPOSITE.width;
    this.canvas.height = COMPOSITE.height;
    // A canvas in memory, not on the GPU: drawing camera frames into it then needs no
    // round trip to the GPU process.
    this.context = this.canvas.getContext("2d", { willReadFrequently: true });
    this.sources = new Map(); // track id -> its LatestFrame
    this.draw([]);
  }

  get track() {
    this.stream = this.stream || this.canvas.captureStream(COMPOSITE.frameRate);
    return this.stream.getVideoTracks()[0];
  }

  sourceOf(track, box) {
    let source = this.sources.get(track.id);
    if (!source) {
      source = new LatestFrame(track, box);
      this.sources.set(track.id, source);
    }
    return source;
  }

  draw(tiles) {
    const g = this.context;
    g.fillStyle = "#1d232a";
    g.fillRect(0, 0, this.canvas.width, this.canvas.height);
    const boxes = tileBoxes(tiles.length, this.canvas.width, this.canvas.height);
    const used = new Set();
    tiles.forEach(({ name, track }, index) => {
      const box = boxes[index];
      const source = track && track.readyState === "live" ? this.sourceOf(track, box) : null;
      if (source) used.add(track.id);
      const image = source?.image;
      if (image) {
        const picture = fitInto(box, ...source.size);
        g.drawImage(image, picture.x, picture.y, picture.width, picture.height);
      } else {
        g.fillStyle = "#f5f7f9";
        g.font = "24px sans-serif";
        g.textAlign = "center";
        g.fillText(name || "", box.x + box.width / 2, box.y + box.height / 2);
      }
      g.fillStyle = "rgba(0, 0, 0, 0.55)";
      g.fillRect(box.x, box.y + box.height - 32, box.width, 32);
      g.fillStyle = "#ffffff";
      g.font = "16px sans-serif";
      g.textAlign = "left";
      g.fillText(name || "", box.x + 10, box.y + box.height - 11);
    });
    for (const [id, source] of this.sources) {
      if (used.has(id)) continue;
      source.close();
      this.sources.delete(id);
    }
  }

  close() {
    for (const source of this.sources.values()) source.close();
    this.sources.clear();
    this.stream?.getTracks().forEach((track) => track.stop());
  }
}

class AudioMix {
  constructor() {
    this.context = new AudioContext();
    this.destination = this.context.createMediaStreamDestination();
    this.sources = new Map(); // track id -> its source node
    // Without a gesture on this page (after a reload) the context may start suspended: the
    // first click or key resumes it.
    this.resume = () => this.context.resume().catch(() => {});
    for (const event of ["pointerdown", "keydown"]) addEventListener(event, this.resume, { once: true });
    this.resume();
  }

  get track() {
    return this.destination.stream.getAudioTracks()[0];
  }

  sync(tracks) {
    const live = new Map(tracks.filter((t) => t && t.readyState === "live").map((t) => [t.id, t]));
    for (const [id, track] of live) {
      if (this.sources.has(id)) continue;
      const source = this.context.createMediaStreamSource(new MediaStream([track]));
      source.connect(this.destination);
      this.sources.set(id, source);
    }
    for (const [id, source] of this.sources) {
      if (live.has(id)) continue;
      source.disconnect();
      this.sources.delete(id);
    }
  }

  close() {
    for (const event of ["pointerdown", "keydown"]) removeEventListener(event, this.resume);
    for (const source of this.sources.values()) source.disconnect();
    this.sources.clear();
    this.context.close().catch(() => {});
  }
}

// One MediaRecorder run for one recording (a reload makes a new one).
class Capture {
  constructor(recordingId, { sources, keep, onProblem }) {
    this.recordingId = recordingId;
    this.sources = sources;
    this.keep = keep; // (blob, {last}) -> promise: into the queue
    this.onProblem = onProblem;
    this.held = null; // a chunk that came after stop(), kept until we know it is the last
    this.chunks = 0;
    this.frames = 0; // composite frames drawn
    this.composite = new Composite();
    this.mix = new AudioMix();
    this.frame();
    const stream = new MediaStream([this.composite.track, this.mix.track]);
    this.mediaRecorder = new MediaRecorder(stream, {
      mimeType: MIME_TYPE,
      videoBitsPerSecond: VIDEO_BITS_PER_SECOND,
    });
    this.mediaRecorder.addEventListener("dataavailable", ({ data }) => this.onData(data));
    this.mediaRecorder.addEventListener("stop", () => this.onStopped());
    this.mediaRecorder.addEventListener("error", (event) =>
      this.onProblem(`The recording stopped working here: ${event.error?.message || "recorder error"}.`),
    );
    this.stopTicking = startTicking(1000 / COMPOSITE.frameRate, () => this.frame());
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
    this.mediaRecorder.start(TIMESLICE_MS);
  }

  get state() {
    return this.mediaRecorder.state;
  }

  frame() {
    if (this.mediaRecorder?.state === "paused") return;
    const { tiles, audio } = this.sources();
    this.composite.draw(tiles);
    this.mix.sync(audio);
    this.frames += 1;
  }

  pause() {
    if (this.mediaRecorder.state === "recording") this.mediaRecorder.pause();
  }

  resume() {
    if (this.mediaRecorder.state === "paused") this.mediaRecorder.resume();
  }

  // Resolves once the last chunk is in the queue.
  stop() {
    if (this.mediaRecorder.state !== "inactive") this.mediaRecorder.stop();
    return this.finished;
  }

  onData(blob) {
    if (this.mediaRecorder.state === "inactive") {
      // After stop(): the final chunk comes now, just before the stop event, but a chunk of
      // the last timeslice may come first. Hold each until the next event says which it was.
      if (this.held) this.store(this.held, false);
      this.held = blob;
      return;
    }
    if (blob.size) this.store(blob, false);
  }

  onStopped() {
    this.store(this.held || new Blob([], { type: MIME_TYPE }), true).finally(() => this.resolveFinished());
    this.held = null;
    this.stopTicking();
    this.composite.close();
    this.mix.close();
  }

  store(blob, last) {
    this.chunks += 1;
    return this.keep(blob, { last }).catch((error) =>
      this.onProblem(`Part of the recording could not be kept on this device: ${error.message}.`),
    );
  }
}

// Follows the room's recording for the doctor who asked for it. `queue`: the chunk queue;
// `uploaded()`: called after each chunk is queued (the uploader's kick); `onProblem(text)`.
export class Recorder {
  constructor({ queue, uploaded, sources, onProblem }) {
    this.queue = queue;
    this.uploaded = uploaded;
    this.sources = sources;
    this.onProblem = onProblem;
    this.capture = null;
    this.finishing = 0; // captures stopped whose last chunk is not queued yet
  }

  // The recording as the latest room.state has it (consent-state.js recordingOf) and whether
  // it is ours (we asked for it).
  follow({ id, state }, ours) {
    if (this.capture && (!ours || state === "off" || this.capture.recordingId !== id)) this.stop();
    if (!ours) return;
    if (state === "on") {
      if (!this.capture) this.start(id);
      else this.capture.resume();
    } else if (state === "paused") {
      this.capture?.pause();
    }
  }

  start(recordingId) {
    if (!canRecord()) {
      this.onProblem("This browser cannot record video (no WebM MediaRecorder).");
      return false;
    }
    try {
      this.capture = new Capture(recordingId, {
        sources: this.sources,
        keep: (blob, { last }) =>
          this.queue.add(recordingId, blob, { last }).then((chunk) => {
            this.uploaded();
            return chunk;
          }),
        onProblem: this.onProblem,
      });
      return true;
    } catch (error) {
      this.capture = null;
      this.onProblem(`Recording could not start here: ${error.message}.`);
      return false;
    }
  }

  // Stops capturing; resolves when the final chunk is queued.
  stop() {
    if (!this.capture) return Promise.resolve();
    const finished = this.capture.stop();
    this.capture = null;
    this.finishing += 1;
    return finished.finally(() => (this.finishing -= 1));
  }

  // For the test hook.
  get status() {
    return {
      recordingId: this.capture?.recordingId ?? null,
      state: this.capture?.state ?? (this.finishing ? "stopping" : "inactive"),
      chunks: this.capture?.chunks ?? 0,
      frames: this.capture?.frames ?? 0,
    };
  }
}
