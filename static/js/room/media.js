// Local media: device lists, the speaker, test tones, level metering, sender limits.

import { limitedParameters } from "./limits.js";

const DEVICES_KEY = "clinic-meet:devices";

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

// The camera, microphone and speaker this browser used last time ({cameraId, micId,
// speakerId}); device ids are stable per site, so they still name the same devices.
export function rememberedDevices() {
  try {
    return JSON.parse(localStorage.getItem(DEVICES_KEY)) || {};
  } catch {
    return {};
  }
}

export function rememberDevices(choices) {
  try {
    localStorage.setItem(DEVICES_KEY, JSON.stringify({ ...rememberedDevices(), ...choices }));
  } catch {
    /* private mode: the choice lasts for this page only */
  }
}

export const canChooseSpeaker = () => "setSinkId" in HTMLMediaElement.prototype;

// Sends a media element's sound to the chosen output ("default": the system's). Switches run
// one at a time per element, the last wish wins, and a switch Chrome aborts because the
// element's audio was being set up (a track just arrived) is tried again shortly.
const wantedSinks = new WeakMap(); // element -> {speakerId, running}

export function playThrough(element, speakerId) {
  if (!canChooseSpeaker() || !speakerId) return Promise.resolve();
  // "" and "default" are both the system's output: no switch (it would delay playback).
  if (speakerId === "default" && element.sinkId === "") return Promise.resolve();
  const wish = wantedSinks.get(element) || { running: Promise.resolve() };
  wish.speakerId = speakerId;
  wish.running = wish.running.then(() => switchSink(element, wish));
  wantedSinks.set(element, wish);
  return wish.running;
}

async function switchSink(element, wish) {
  for (let attempt = 1; attempt <= 5 && element.sinkId !== wish.speakerId; attempt += 1) {
    try {
      await element.setSinkId(wish.speakerId);
    } catch (error) {
      if (error.name !== "AbortError") return console.warn("Could not switch the speaker", error);
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}

// A short tone through the chosen speaker (the speaker test, the doctor's waiting-room cue).
// Resolves to the <audio> element that played it.
export async function playTone(speakerId, { frequency = 660, seconds = 0.6, volume = 0.2 } = {}) {
  const context = new AudioContext();
  const tone = context.createOscillator();
  const gain = context.createGain();
  const output = context.createMediaStreamDestination();
  tone.frequency.value = frequency;
  gain.gain.value = volume;
  tone.connect(gain).connect(output);
  const element = new Audio();
  element.srcObject = output.stream;
  await playThrough(element, speakerId);
  tone.start();
  tone.stop(context.currentTime + seconds);
  tone.addEventListener("ended", () => {
    element.srcObject = null;
    context.close();
  });
  await element.play();
  return element;
}

// Calls `onLevel(0..1)` about 20 times a second with the stream's audio level; returns a stop().
export function meterAudio(stream, onLevel) {
  const track = stream.getAudioTracks()[0];
  if (!track || typeof AudioContext === "undefined") return () => {};
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  // Held for as long as the meter runs: once Chrome collects the stream behind a
  // MediaStreamAudioSourceNode, the node goes silent (the meter read zero after seconds).
  const metered = new MediaStream([track]);
  const source = context.createMediaStreamSource(metered);
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    if (!metered.active) return onLevel(0);
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const value of samples) sum += value * value;
    onLevel(Math.min(1, Math.sqrt(sum / samples.length) * 4));
  }, 50);
  return () => {
    clearInterval(timer);
    source.disconnect();
    context.close();
  };
}

// Holds a video sender to the clinic's limits (MAX_WEBCAM_BITRATE / _FRAMERATE; limits.js).
export async function limitSender(sender, limits) {
  if (!sender?.track || sender.track.kind !== "video") return;
  try {
    await sender.setParameters(limitedParameters(sender.getParameters(), limits));
  } catch (error) {
    console.warn("Could not apply sender limits", error);
  }
}
