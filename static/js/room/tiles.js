// The call's remote tiles: one per other participant, their video, caption and speaking
// indicator. A tile whose participant left the room goes after the leave grace (grace.js),
// unless they are back by then; one the doctor sent away goes at once.

import { LeaveGrace } from "./grace.js";
import { meterAudio, playThrough } from "./media.js";
import { tileCaption } from "./roster.js";

// The speaking indicator lights above this level and stays lit this long after the last
// loud moment, so it follows speech rather than flickering with every syllable.
const SPEAKING_LEVEL = 0.08;
const SPEAKING_HOLD_MS = 600;

export class Tiles {
  constructor(container, { speakerId }) {
    this.container = container;
    this.speakerId = speakerId;
    this.tiles = new Map(); // user id -> tile element
    this.grace = new LeaveGrace((userId) => this.remove(userId));
  }

  // The tiles of the admitted others; anyone else's after the grace.
  sync(others) {
    const present = new Set(others.map((other) => other.user_id));
    this.grace.update(this.tiles.keys(), (userId) => present.has(userId));
    for (const other of others) this.render(other);
  }

  render(participant) {
    let tile = this.tiles.get(participant.user_id);
    if (!tile) {
      tile = document.createElement("figure");
      tile.className = "tile tile--remote";
      tile.dataset.userId = participant.user_id;
      const video = document.createElement("video");
      video.className = "video video--remote";
      video.autoplay = true;
      video.playsInline = true;
      video.setAttribute("aria-label", `${participant.display_name}'s camera`);
      const caption = document.createElement("figcaption");
      caption.className = "tile__label";
      tile.append(video, caption);
      this.container.append(tile);
      this.tiles.set(participant.user_id, tile);
    }
    tile.querySelector("figcaption").textContent = tileCaption(participant);
    tile.dataset.audio = participant.audio;
    tile.dataset.video = participant.video;
    return tile;
  }

  show(userId, stream) {
    const tile = this.tiles.get(userId);
    if (!tile) return;
    const video = tile.querySelector("video");
    if (video.srcObject !== stream) video.srcObject = stream;
    playThrough(video, this.speakerId); // again as tracks arrive: a switch mid-setup may not hold
    // Meter the audio once it carries sound (a remote track is muted until packets arrive),
    // and again if the track changes.
    const audio = stream.getAudioTracks()[0];
    if (audio && !audio.muted && tile.meteredTrack !== audio) {
      tile.stopMeter?.();
      tile.meteredTrack = audio;
      let lastHeard = -Infinity;
      tile.stopMeter = meterAudio(stream, (level) => {
        if (level > SPEAKING_LEVEL) lastHeard = performance.now();
        tile.classList.toggle("tile--speaking", performance.now() - lastHeard < SPEAKING_HOLD_MS);
      });
    }
  }

  // The speaker for everything the call plays.
  playThrough(speakerId) {
    this.speakerId = speakerId;
    for (const tile of this.tiles.values()) playThrough(tile.querySelector("video"), speakerId);
  }

  remove(userId) {
    this.grace.cancel(userId);
    const tile = this.tiles.get(userId);
    tile?.stopMeter?.();
    tile?.remove();
    this.tiles.delete(userId);
  }

  clear() {
    this.grace.clear();
    for (const userId of [...this.tiles.keys()]) this.remove(userId);
  }
}
