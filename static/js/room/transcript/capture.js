// The doctor's capture for the live transcript: one AudioWorklet node (pcm-worklet.js) per
// speaker, on that speaker's own audio track: our microphone, and each remote participant's
// audio as it arrives here (in the clear). Each node posts 16 kHz mono PCM; `onPcm(userId, pcm)`
// gets it. A muted microphone is silence, which the engine hears as nobody speaking.

const WORKLET_URL = new URL("./pcm-worklet.js", import.meta.url);

export class AudioCapture {
  constructor({ onPcm, onProblem }) {
    this.onPcm = onPcm;
    this.onProblem = onProblem;
    this.context = null;
    this.loaded = null; // the worklet module's promise
    this.nodes = new Map(); // user id -> {trackId, source, node}
    this.sink = null;
    this.resume = () => this.context?.resume().catch(() => {});
  }

  async start() {
    if (this.context) return this.loaded;
    this.context = new AudioContext();
    // A worklet's output must reach the destination for the graph to run it: through a gain of 0.
    this.sink = this.context.createGain();
    this.sink.gain.value = 0;
    this.sink.connect(this.context.destination);
    // Without a gesture on this page (after a reload) the context may start suspended.
    for (const event of ["pointerdown", "keydown"]) addEventListener(event, this.resume);
    this.resume();
    this.loaded = this.context.audioWorklet.addModule(WORKLET_URL).catch((error) => {
      this.onProblem(`The transcript cannot hear this call here: ${error.message}.`);
      throw error;
    });
    return this.loaded;
  }

  // `sources`: [{userId, track}] of the speakers now. New tracks get a node, gone ones lose it.
  async sync(sources) {
    if (!this.context) return;
    await this.loaded;
    if (!this.context) return; // stopped meanwhile
    const live = new Map(sources.filter((s) => s.track?.readyState === "live").map((s) => [s.userId, s.track]));
    for (const [userId, entry] of this.nodes) {
      if (live.get(userId)?.id === entry.trackId) continue;
      this.disconnect(entry);
      this.nodes.delete(userId);
    }
    for (const [userId, track] of live) {
      if (this.nodes.has(userId)) continue;
      const source = this.context.createMediaStreamSource(new MediaStream([track]));
      const node = new AudioWorkletNode(this.context, "clinic-meet-pcm", {
        numberOfInputs: 1,
        numberOfOutputs: 1,
        outputChannelCount: [1],
      });
      node.port.onmessage = ({ data }) => this.onPcm(userId, data);
      source.connect(node);
      node.connect(this.sink);
      this.nodes.set(userId, { trackId: track.id, source, node });
    }
  }

  get speakers() {
    return [...this.nodes.keys()];
  }

  disconnect({ source, node }) {
    node.port.postMessage("stop");
    node.port.onmessage = null;
    source.disconnect();
    node.disconnect();
  }

  stop() {
    for (const entry of this.nodes.values()) this.disconnect(entry);
    this.nodes.clear();
    for (const event of ["pointerdown", "keydown"]) removeEventListener(event, this.resume);
    this.context?.close().catch(() => {});
    this.context = null;
    this.loaded = null;
  }
}
