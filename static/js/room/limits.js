// The clinic's camera limits (MAX_WEBCAM_BITRATE, _FRAMERATE, _QUALITY_LEVEL), as the page's
// config carries them: {maxBitrate, maxFramerate, maxHeight}. Every place that captures or
// sends video takes its numbers from here. Pure: no DOM, no WebRTC objects.

// The capture height asked for when the clinic allows more: enough for a consultation.
const PREFERRED_HEIGHT = 720;

// The encoding limits of a video sender.
export function videoEncoding(limits) {
  return { maxBitrate: limits.maxBitrate, maxFramerate: limits.maxFramerate };
}

// The `sendEncodings` of a new transceiver for a track of `kind` ("audio" or "video").
export function sendEncodings(kind, limits) {
  return kind === "video" ? [videoEncoding(limits)] : undefined;
}

// A sender's parameters (from getParameters()) with every encoding held to the limits.
export function limitedParameters(parameters, limits) {
  const encodings = parameters.encodings?.length ? parameters.encodings : [{}];
  return {
    ...parameters,
    encodings: encodings.map((encoding) => ({ ...encoding, ...videoEncoding(limits) })),
  };
}

// getUserMedia constraints within the limits. `preferred` ids (remembered from last time) are
// taken when present; chosen ones must be.
export function captureConstraints(limits, { cameraId, micId, preferred = false } = {}) {
  const height = Math.min(PREFERRED_HEIGHT, limits.maxHeight);
  const device = (id) => ({ deviceId: preferred ? { ideal: id } : { exact: id } });
  return {
    audio: micId ? device(micId) : true,
    video: {
      ...(cameraId ? device(cameraId) : {}),
      height: { ideal: height, max: limits.maxHeight },
      frameRate: { ideal: limits.maxFramerate, max: limits.maxFramerate },
    },
  };
}
