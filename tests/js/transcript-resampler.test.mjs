// The transcription capture's downmix and resampler (static/js/room/transcript/resampler.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { Resampler, downmix, toInt16 } from "../../static/js/room/transcript/resampler.js";

function tone(frequency, rate, seconds) {
  return Float32Array.from({ length: Math.round(rate * seconds) }, (_, i) => Math.sin((2 * Math.PI * frequency * i) / rate));
}

// Fed in the audio thread's 128-sample blocks, as the worklet does.
function resample(input, rate, block = 128) {
  const resampler = new Resampler(rate);
  const out = [];
  for (let i = 0; i < input.length; i += block) out.push(...resampler.process(input.subarray(i, i + block)));
  return Float32Array.from(out);
}

function rms(samples) {
  return Math.sqrt(samples.reduce((sum, x) => sum + x * x, 0) / samples.length);
}

// The middle of the output, away from the filter's start.
const steady = (samples) => samples.subarray(2000, samples.length - 2000);

test("one second in at 48 kHz, 44.1 kHz or 8 kHz is one second out at 16 kHz (less the filter's delay)", () => {
  for (const rate of [48000, 44100, 8000]) {
    const out = resample(tone(440, rate, 1), rate);
    assert.ok(out.length > 15950 && out.length <= 16000, `${rate}: ${out.length}`);
  }
});

test("speech frequencies pass at their level", () => {
  for (const rate of [48000, 44100]) {
    for (const frequency of [200, 1000, 3000, 5000]) {
      const level = rms(steady(resample(tone(frequency, rate, 1), rate)));
      assert.ok(Math.abs(level - Math.SQRT1_2) < 0.01, `${rate} Hz, ${frequency} Hz tone at ${level}`);
    }
  }
});

test("what lies above the new Nyquist frequency is filtered out, not folded back into speech", () => {
  for (const frequency of [9000, 12000, 15000, 20000]) {
    // 12 kHz at 48 kHz taken every third sample would come back as a 4 kHz tone at full level.
    const level = rms(steady(resample(tone(frequency, 48000, 1), 48000)));
    assert.ok(level < 0.001, `${frequency} Hz tone left at ${level}`);
  }
});

test("the result is the same however the input is cut into blocks", () => {
  const input = tone(700, 48000, 0.5);
  const whole = resample(input, 48000, input.length);
  const blocks = resample(input, 48000, 128);
  const odd = resample(input, 48000, 77);
  assert.equal(blocks.length, whole.length);
  assert.equal(odd.length, whole.length);
  for (let i = 0; i < whole.length; i++) {
    assert.ok(Math.abs(blocks[i] - whole[i]) < 1e-6 && Math.abs(odd[i] - whole[i]) < 1e-6, `sample ${i}`);
  }
});

test("a tone keeps its frequency: its zero crossings come at the rate they should", () => {
  const out = steady(resample(tone(1000, 44100, 1), 44100));
  let crossings = 0;
  for (let i = 1; i < out.length; i++) if (out[i - 1] < 0 && out[i] >= 0) crossings += 1;
  const seconds = out.length / 16000;
  assert.ok(Math.abs(crossings / seconds - 1000) < 2, `${crossings / seconds} Hz`);
});

test("stereo is averaged to mono; mono passes as it is", () => {
  const left = Float32Array.from([1, 0.5, -1]);
  const right = Float32Array.from([0, 0.5, 1]);
  assert.deepEqual([...downmix([left, right])], [0.5, 0.5, 0]);
  assert.equal(downmix([left]), left);
});

test("16-bit samples are clipped, full scale both ways", () => {
  assert.deepEqual([...toInt16(Float32Array.from([0, 1, -1, 2, -2, 0.5]))], [0, 32767, -32768, 32767, -32768, 16384]);
});

test("rates that are not positive are refused", () => {
  assert.throws(() => new Resampler(0), RangeError);
});
