// The clinic's camera limits, as every capture and sender takes them (static/js/room/limits.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  captureConstraints,
  limitedParameters,
  sendEncodings,
  videoEncoding,
} from "../../static/js/room/limits.js";

const LIMITS = { maxBitrate: 1_200_000, maxFramerate: 24, maxHeight: 1080 };

test("a video sender is held to the bitrate and frame rate", () => {
  assert.deepEqual(videoEncoding(LIMITS), { maxBitrate: 1_200_000, maxFramerate: 24 });
  assert.deepEqual(sendEncodings("video", LIMITS), [{ maxBitrate: 1_200_000, maxFramerate: 24 }]);
  assert.equal(sendEncodings("audio", LIMITS), undefined);
});

test("every encoding of a sender gets the limits, keeping its other fields", () => {
  const parameters = {
    transactionId: "t1",
    encodings: [
      { rid: "h", active: true, maxBitrate: 5_000_000 },
      { rid: "l", active: false },
    ],
  };
  const limited = limitedParameters(parameters, LIMITS);
  assert.equal(limited.transactionId, "t1");
  assert.deepEqual(limited.encodings, [
    { rid: "h", active: true, maxBitrate: 1_200_000, maxFramerate: 24 },
    { rid: "l", active: false, maxBitrate: 1_200_000, maxFramerate: 24 },
  ]);
  assert.equal(parameters.encodings[0].maxBitrate, 5_000_000, "the input is not changed");
});

test("a sender without encodings gets one", () => {
  for (const encodings of [undefined, []]) {
    assert.deepEqual(limitedParameters({ encodings }, LIMITS).encodings, [
      { maxBitrate: 1_200_000, maxFramerate: 24 },
    ]);
  }
});

test("capture asks for 720p at most within the clinic's limits", () => {
  const { audio, video } = captureConstraints(LIMITS);
  assert.equal(audio, true);
  assert.deepEqual(video, { height: { ideal: 720, max: 1080 }, frameRate: { ideal: 24, max: 24 } });
  const low = captureConstraints({ ...LIMITS, maxHeight: 480 }).video;
  assert.deepEqual(low.height, { ideal: 480, max: 480 });
});

test("chosen devices must be used; remembered ones are preferred", () => {
  const chosen = captureConstraints(LIMITS, { cameraId: "cam", micId: "mic" });
  assert.deepEqual(chosen.audio, { deviceId: { exact: "mic" } });
  assert.deepEqual(chosen.video.deviceId, { exact: "cam" });
  const remembered = captureConstraints(LIMITS, { cameraId: "cam", micId: "mic", preferred: true });
  assert.deepEqual(remembered.audio, { deviceId: { ideal: "mic" } });
  assert.deepEqual(remembered.video.deviceId, { ideal: "cam" });
});
