// Downmixing and resampling to what the transcription engines take: 16 kHz mono, 16-bit PCM
// (docs/protocol.md, "The audio socket"). A windowed-sinc resampler, streaming (it keeps the
// samples its filter still needs between blocks), any rate in, any rate out. Pure: no DOM, no
// WebAudio; pcm-worklet.js runs it in the audio thread, node's tests run it as it is.
//
// Going down from 48 kHz to 16 kHz the filter is also the low-pass: its cutoff sits below the
// new Nyquist frequency (8 kHz), so what lies above does not fold back into speech as noise.

export const TARGET_RATE = 16000;

// Zero crossings of the sinc on each side (at the output's rate): 12 gives a steep filter
// (under -60 dB from 9 kHz with a Blackman window) at 24 taps per output sample going up,
// 80 going down from 48 kHz (about 2% of a core per stream).
const ZERO_CROSSINGS = 12;
// The kernel is tabulated this finely per zero crossing and interpolated linearly.
const TABLE_STEPS = 256;
// The cutoff, as a fraction of the lower Nyquist frequency: a little headroom for the
// transition band.
const CUTOFF = 0.9;

function blackman(x) {
  // x in [-1, 1]
  return 0.42 + 0.5 * Math.cos(Math.PI * x) + 0.08 * Math.cos(2 * Math.PI * x);
}

function sincTable() {
  const table = new Float64Array(ZERO_CROSSINGS * TABLE_STEPS + 2);
  table[0] = 1;
  for (let i = 1; i < table.length; i++) {
    const x = i / TABLE_STEPS; // in zero crossings
    table[i] = x >= ZERO_CROSSINGS ? 0 : (Math.sin(Math.PI * x) / (Math.PI * x)) * blackman(x / ZERO_CROSSINGS);
  }
  return table;
}

const TABLE = sincTable();

export class Resampler {
  constructor(inputRate, outputRate = TARGET_RATE) {
    if (!(inputRate > 0 && outputRate > 0)) throw new RangeError("sample rates must be positive");
    this.inputRate = inputRate;
    this.outputRate = outputRate;
    this.step = inputRate / outputRate; // input samples per output sample
    // The filter's scale in zero crossings per input sample: the lower rate's Nyquist decides.
    this.scale = Math.min(1, outputRate / inputRate) * CUTOFF;
    this.halfWidth = Math.ceil(ZERO_CROSSINGS / this.scale); // input samples each side
    // Input kept for the filter: `halfWidth` samples of history (zeros at the start) then the
    // new samples. `time` is the next output's position in it, in input samples.
    this.buffer = new Float32Array(this.halfWidth);
    this.time = this.halfWidth;
  }

  kernel(distance) {
    const x = Math.abs(distance) * this.scale * TABLE_STEPS;
    const i = Math.floor(x);
    if (i >= TABLE.length - 1) return 0;
    const fraction = x - i;
    return TABLE[i] + (TABLE[i + 1] - TABLE[i]) * fraction;
  }

  // One block of mono input (Float32Array, -1..1) -> the output samples it completes.
  process(input) {
    const buffer = new Float32Array(this.buffer.length + input.length);
    buffer.set(this.buffer);
    buffer.set(input, this.buffer.length);
    const out = [];
    const gain = this.scale; // keeps a constant signal at its level when the filter narrows
    // An output needs `halfWidth` input samples after it.
    while (this.time + this.halfWidth < buffer.length) {
      const centre = Math.floor(this.time);
      let sum = 0;
      for (let k = centre - this.halfWidth + 1; k <= centre + this.halfWidth; k++) {
        sum += buffer[k] * this.kernel(this.time - k);
      }
      out.push(sum * gain);
      this.time += this.step;
    }
    // Keep what the next outputs still reach back to.
    const keepFrom = Math.max(0, Math.floor(this.time) - this.halfWidth);
    this.buffer = buffer.slice(keepFrom);
    this.time -= keepFrom;
    return Float32Array.from(out);
  }
}

// The channels of one block (Float32Array each) -> their average.
export function downmix(channels) {
  if (channels.length === 1) return channels[0];
  const length = channels[0]?.length || 0;
  const mono = new Float32Array(length);
  for (const channel of channels) {
    for (let i = 0; i < length; i++) mono[i] += channel[i];
  }
  for (let i = 0; i < length; i++) mono[i] /= channels.length;
  return mono;
}

// Float samples -> 16-bit, clipped (s16le once its bytes are read on a little-endian machine,
// which is every browser's).
export function toInt16(samples) {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    out[i] = s < 0 ? Math.round(s * 0x8000) : Math.round(s * 0x7fff);
  }
  return out;
}
