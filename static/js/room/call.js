// The call: our camera, microphone and screen (with their controls), the others' tiles, and
// the media transport (transport.js) that connects them, whichever of the two it is.

import { $ } from "./dom.js";
import { captureConstraints } from "./limits.js";
import { explainMediaError } from "./media.js";
import { selfState } from "./roster.js";
import { Tiles } from "./tiles.js";

export class CallStage {
  // `local`: {stream, cameraOn, micOn} from the pre-call check; `sendMediaFlags(flags)`
  // tells the room; `announce(text)` tells the person.
  constructor({ limits, local, speakerId, sendMediaFlags, announce }) {
    this.limits = limits;
    this.local = { stream: local.stream, screen: null }; // what the transport sends
    this.cameraOn = local.cameraOn;
    this.micOn = local.micOn;
    this.sendFlags = sendMediaFlags;
    this.announce = announce;
    this.transport = null;
    this.tiles = new Tiles($("remote-videos"), { speakerId });
    this.local.stream?.getVideoTracks().forEach((track) => (track.enabled = this.cameraOn));
    this.local.stream?.getAudioTracks().forEach((track) => (track.enabled = this.micOn));
    $("self-view").srcObject = this.local.stream;
    $("toggle-mic").addEventListener("click", () => this.toggleMic());
    $("toggle-camera").addEventListener("click", () => this.toggleCamera());
    $("toggle-screen").addEventListener("click", () => this.toggleScreen());
    if (!("getDisplayMedia" in (navigator.mediaDevices || {}))) $("toggle-screen").hidden = true;
    this.updateControls();
  }

  useTransport(transport) {
    this.transport = transport;
    transport.addEventListener("media", ({ detail }) => this.tiles.show(detail.userId, detail.stream));
  }

  // The admitted others of the latest room.state.
  sync(others) {
    $("alone").hidden = others.length > 0;
    this.transport.sync(others).catch((error) => this.announce(error.message));
    this.tiles.sync(others);
    // Media may have arrived before the tile existed.
    for (const other of others) {
      const stream = this.transport.mediaOf(other.user_id);
      if (stream) this.tiles.show(other.user_id, stream);
    }
  }

  // Sent away by the doctor: no grace, they are not coming back.
  forget(participant) {
    this.transport.forget(participant);
    this.tiles.remove(participant.user_id);
  }

  // What a recording composites and mixes (recording/recorder.js): our picture (the screen
  // while we share it) first, then each of `others` (their screen share comes as their video),
  // and every microphone. A camera that is off has no picture: the tile shows the name.
  recordingSources(others, myName) {
    const camera = this.cameraOn ? this.local.stream?.getVideoTracks()[0] : null;
    const tiles = [{ name: myName, track: this.local.screen || camera || null }];
    const audio = [this.local.stream?.getAudioTracks()[0]];
    for (const other of others) {
      const stream = this.transport?.mediaOf(other.user_id);
      const showing = other.video || other.screen;
      tiles.push({ name: other.display_name, track: (showing && stream?.getVideoTracks()[0]) || null });
      audio.push(...(stream?.getAudioTracks() || []));
    }
    return { tiles, audio: audio.filter(Boolean) };
  }

  playThrough(speakerId) {
    this.tiles.playThrough(speakerId);
  }

  flags() {
    return { audio: this.micOn, video: this.cameraOn, screen: !!this.local.screen };
  }

  mediaChanged() {
    this.updateControls();
    this.sendFlags(this.flags());
  }

  updateControls() {
    const set = (id, pressed, on, off) => {
      $(id).setAttribute("aria-pressed", String(pressed));
      $(id).textContent = pressed ? on : off;
    };
    set("toggle-mic", !this.micOn, "Unmute", "Mute");
    set("toggle-camera", !this.cameraOn, "Start camera", "Stop camera");
    set("toggle-screen", !!this.local.screen, "Stop sharing", "Share screen");
    $("self-state").textContent = selfState(this);
  }

  async toggleCamera() {
    let track = this.local.stream?.getVideoTracks()[0];
    if (!track) {
      try {
        const camera = await navigator.mediaDevices.getUserMedia({
          video: captureConstraints(this.limits).video,
        });
        track = camera.getVideoTracks()[0];
        this.local.stream = this.local.stream || new MediaStream();
        this.local.stream.addTrack(track);
        if (!this.local.screen) this.transport.replaceVideo(track);
        $("self-view").srcObject = this.local.stream;
        this.cameraOn = false; // flipped on below
      } catch (error) {
        return this.announce(explainMediaError(error).title);
      }
    }
    this.cameraOn = !this.cameraOn;
    track.enabled = this.cameraOn;
    this.mediaChanged();
  }

  toggleMic() {
    const track = this.local.stream?.getAudioTracks()[0];
    if (!track) return this.announce("No microphone is connected.");
    this.micOn = !this.micOn;
    track.enabled = this.micOn;
    this.mediaChanged();
  }

  async toggleScreen() {
    if (this.local.screen) return this.stopSharing();
    try {
      const display = await navigator.mediaDevices.getDisplayMedia({ video: true });
      this.local.screen = display.getVideoTracks()[0];
      this.local.screen.addEventListener("ended", () => this.stopSharing());
      this.transport.replaceVideo(this.local.screen);
      $("self-view").srcObject = display;
    } catch {
      return this.announce("Screen sharing was not started.");
    }
    this.mediaChanged();
  }

  stopSharing() {
    this.local.screen?.stop();
    this.local.screen = null;
    this.transport.replaceVideo(this.local.stream?.getVideoTracks()[0] || null);
    $("self-view").srcObject = this.local.stream;
    this.mediaChanged();
  }

  hangUp() {
    this.transport?.close();
    this.local.stream?.getTracks().forEach((track) => track.stop());
    this.local.screen?.stop();
    this.tiles.clear();
  }
}
