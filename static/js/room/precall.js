// The pre-call check: camera and microphone preview with a level meter, device and speaker
// pickers (remembered per browser), the speaker test, and the choice to join with camera or
// microphone off. The speaker picker of the call is kept in step here too.

import { $ } from "./dom.js";
import { captureConstraints } from "./limits.js";
import {
  canChooseSpeaker,
  explainMediaError,
  fillSelect,
  listDevices,
  meterAudio,
  playTone,
  rememberDevices,
  rememberedDevices,
} from "./media.js";

const SPEAKER_PICKERS = ["speaker-select", "call-speaker-select"];

export class PreCall extends EventTarget {
  constructor({ limits }) {
    super();
    this.limits = limits;
    this.stream = null; // camera + microphone
    this.speakerId = rememberedDevices().speakerId || "default";
    this.testSound = null; // the last speaker test's <audio> element
    this.stopMeter = () => {};
    $("device-retry").addEventListener("click", () => this.startPreview());
    $("camera-select").addEventListener("change", () => this.startPreview());
    $("mic-select").addEventListener("change", () => this.startPreview());
    for (const id of SPEAKER_PICKERS) {
      $(id).addEventListener("change", (event) => this.chooseSpeaker(event.target.value));
    }
    $("speaker-test").addEventListener("click", () => this.testSpeaker());
    navigator.mediaDevices?.addEventListener("devicechange", () => this.refreshDevices());
  }

  async startPreview() {
    this.stopMeter();
    this.stream?.getTracks().forEach((track) => track.stop());
    $("device-problem").hidden = true;
    // First time on this page: the devices used last time, if they are still there.
    const chosen = $("camera-select").options.length
      ? { cameraId: $("camera-select").value, micId: $("mic-select").value }
      : { ...rememberedDevices(), preferred: true };
    try {
      this.stream = await navigator.mediaDevices.getUserMedia(
        captureConstraints(this.limits, chosen),
      );
    } catch (error) {
      this.stream = null;
      const { title, help } = explainMediaError(error);
      $("device-problem-title").textContent = title;
      $("device-problem-help").textContent = help;
      $("device-problem").hidden = false;
      return;
    }
    $("preview").srcObject = this.stream;
    await this.refreshDevices();
    rememberDevices({ cameraId: this.deviceInUse("video"), micId: this.deviceInUse("audio") });
    this.stopMeter = meterAudio(this.stream, (level) => {
      $("mic-level").value = level;
    });
  }

  deviceInUse(kind) {
    return this.stream?.getTracks().find((track) => track.kind === kind)?.getSettings().deviceId;
  }

  // Device lists, again whenever a device is plugged in or out.
  async refreshDevices() {
    const { cameras, mics, speakers } = await listDevices();
    fillSelect($("camera-select"), cameras, this.deviceInUse("video"));
    fillSelect($("mic-select"), mics, this.deviceInUse("audio"));
    const known = speakers.some((s) => s.deviceId === this.speakerId);
    const speakerId = known ? this.speakerId : "default";
    for (const id of SPEAKER_PICKERS) fillSelect($(id), speakers, speakerId);
    $("speaker-field").hidden = speakers.length === 0 || !canChooseSpeaker();
    $("call-speaker-field").hidden = speakers.length < 2 || !canChooseSpeaker();
  }

  // The speaker for everything the call plays: set from either picker, kept for next time.
  chooseSpeaker(speakerId) {
    this.speakerId = speakerId;
    rememberDevices({ speakerId });
    for (const id of SPEAKER_PICKERS) $(id).value = speakerId;
    this.dispatchEvent(new CustomEvent("speaker", { detail: speakerId }));
  }

  async testSpeaker() {
    $("speaker-test-hint").textContent = "Playing a test sound…";
    try {
      this.testSound = await playTone(this.speakerId);
      $("speaker-test-hint").textContent =
        "Did you hear a tone? If not, turn up the volume or choose another speaker.";
    } catch (error) {
      $("speaker-test-hint").textContent = `The test sound could not play: ${error.message}`;
    }
  }

  // Leaving the check for the visit: what to join with.
  finish() {
    this.stopMeter();
    const stream = this.stream;
    return {
      stream,
      cameraOn: !$("join-camera-off").checked && !!stream?.getVideoTracks().length,
      micOn: !$("join-mic-off").checked && !!stream?.getAudioTracks().length,
    };
  }
}
