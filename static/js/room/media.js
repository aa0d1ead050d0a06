// Local media: device lists, capture within the clinic's limits, level metering.

export function captureConstraints(limits, { cameraId, micId } = {}) {
  const height = Math.min(720, limits.maxHeight);
  return {
    audio: micId ? { deviceId: { exact: micId } } : true,
    video: {
      ...(cameraId ? { deviceId: { exact: cameraId } } : {}),
      height: { ideal: height, max: limits.maxHeight },
      frameRate: { ideal: limits.maxFramerate, max: limits.maxFramerate },
    },
  };
}

// What to tell a person whose devices failed, and what to do about it.
export function explainMediaError(error) {
  switch (error?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return {
        title: "Camera and microphone are blocked",
        help: "Your browser did not allow this page to use them. Click the camera symbol in the " +
          "address bar, choose Allow, then press Try again. You can also join without them.",
      };
    case "NotFoundError":
    case "OverconstrainedError":
      return {
        title: "No camera or microphone found",
        help: "Plug one in (or close other apps using it) and press Try again, or join with " +
          "camera and microphone off.",
      };
    case "NotReadableError":
      return {
        title: "Your camera or microphone is busy",
        help: "Another app is using it. Close that app and press Try again.",
      };
    default:
      return { title: "We could not start your camera", help: String(error?.message || error) };
  }
}

export async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  return {
    cameras: devices.filter((d) => d.kind === "videoinput"),
    mics: devices.filter((d) => d.kind === "audioinput"),
    speakers: devices.filter((d) => d.kind === "audiooutput"),
  };
}

export function fillSelect(select, devices, chosenId) {
  select.replaceChildren(
    ...devices.map((device, index) => {
      const option = new Option(device.label || `Device ${index + 1}`, device.deviceId);
      option.selected = device.deviceId === chosenId;
      return option;
    }),
  );
}

// Calls `onLevel(0..1)` about 20 times a second with the stream's audio level; returns a stop().
export function meterAudio(stream, onLevel) {
  const track = stream.getAudioTracks()[0];
  if (!track || typeof AudioContext === "undefined") return () => {};
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const value of samples) sum += value * value;
    onLevel(Math.min(1, Math.sqrt(sum / samples.length) * 4));
  }, 50);
  return () => {
    clearInterval(timer);
    context.close();
  };
}

// The sender limits the clinic configured (MAX_WEBCAM_BITRATE / _FRAMERATE).
export async function limitSender(sender, limits) {
  if (!sender?.track || sender.track.kind !== "video") return;
  const parameters = sender.getParameters();
  if (!parameters.encodings || parameters.encodings.length === 0) parameters.encodings = [{}];
  for (const encoding of parameters.encodings) {
    encoding.maxBitrate = limits.maxBitrate;
    encoding.maxFramerate = limits.maxFramerate;
  }
  try {
    await sender.setParameters(parameters);
  } catch (error) {
    console.warn("Could not apply sender limits", error);
  }
}
