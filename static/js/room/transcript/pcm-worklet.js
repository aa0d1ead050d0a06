// The AudioWorklet of the doctor's transcription capture (capture.js): each speaker's audio
// track, downmixed and resampled to 16 kHz mono 16-bit PCM (resampler.js), posted to the page
// in blocks of BLOCK_SAMPLES (100 ms). Loaded with audioWorklet.addModule from our own static
// URL; runs in the audio thread, so the page's work never makes it skip.

/* global AudioWorkletProcessor, registerProcessor, sampleRate */

import { Resampler, TARGET_RATE, downmix, toInt16 } from "./resampler.js";

const BLOCK_SAMPLES = TARGET_RATE / 10;

class PcmProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.resampler = new Resampler(sampleRate, TARGET_RATE);
    this.block = new Int16Array(BLOCK_SAMPLES);
    this.filled = 0;
    this.running = true;
    this.port.onmessage = ({ data }) => {
      if (data === "stop") this.running = false;
    };
  }

  process(inputs) {
    if (!this.running) return false;
    const channels = inputs[0];
    // No input connected yet (or the track ended): nothing to say, keep the node alive.
    if (!channels?.length) return true;
    const samples = toInt16(this.resampler.process(downmix(channels)));
    let offset = 0;
    while (offset < samples.length) {
      const take = Math.min(BLOCK_SAMPLES - this.filled, samples.length - offset);
      this.block.set(samples.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === BLOCK_SAMPLES) {
        this.port.postMessage(this.block, [this.block.buffer]);
        this.block = new Int16Array(BLOCK_SAMPLES);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("clinic-meet-pcm", PcmProcessor);
