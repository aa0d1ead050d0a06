// Peer-to-peer media with one other participant, signaled over the room's WebSocket, using the
// "perfect negotiation" pattern (both sides may offer; the polite side yields on collision)
// and an ICE restart when the connection fails or stays disconnected.

import { sendEncodings } from "./limits.js";
import { limitSender } from "./media.js";

// Chrome leaves a connection whose network went away (a laptop changing Wi-Fi) "disconnected"
// indefinitely; it seldom reaches "failed". So a connection disconnected for a few seconds is
// restarted. The offering side goes first; the polite side only if that did not help.
const RESTART_AFTER_DISCONNECT_MS = { offerer: 3_000, polite: 6_000 };
// A restart whose offer was lost (the socket was down too) is tried again.
const RESTART_RETRY_MS = 8_000;

export class PeerLink extends EventTarget {
  constructor({ polite, iceServers, limits, sendSignal, protection = null, pcOptions = {}, userId = null }) {
    super();
    // End-to-end encryption (e2ee/protection.js) puts its transforms on each transceiver.
    this.protection = protection;
    this.userId = userId;
    this.polite = polite;
    this.limits = limits;
    this.sendSignal = (data) => {
      this.note(`sent ${data.description?.type || (data.hello ? "hello" : "candidate")}`);
      sendSignal(data);
    };
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.settingRemoteAnswer = false;
    this.pendingCandidates = [];
    this.trace = []; // the last signaling events, for support and tests
    this.iceRestarts = 0;
    this.restartTimer = null;
    this.remoteStream = new MediaStream();
    this.senders = {};
    const pc = new RTCPeerConnection({ iceServers, ...pcOptions });
    this.pc = pc;

    pc.addEventListener("negotiationneeded", async () => {
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        this.sendSignal({ description: pc.localDescription.toJSON() });
      } catch (error) {
        console.warn("negotiation failed", error);
      } finally {
        this.makingOffer = false;
      }
    });
    pc.addEventListener("icecandidate", ({ candidate }) => {
      if (candidate) this.sendSignal({ candidate: candidate.toJSON() });
    });
    pc.addEventListener("iceconnectionstatechange", () => {
      this.note(`ice ${pc.iceConnectionState}`);
      this.watchIce();
    });
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "connected") {
        for (const sender of pc.getSenders()) limitSender(sender, this.limits);
      }
      this.dispatchEvent(new CustomEvent("state", { detail: pc.connectionState }));
    });
    pc.addEventListener("track", ({ track, transceiver }) => {
      // Here, while the offer is being set: Chromium runs a transform set any later (even
      // before the answer) on no frame at all, and the media would pass in the clear.
      this.protect(transceiver, track.kind);
      this.remoteStream.addTrack(track);
      track.addEventListener("unmute", () => this.dispatchEvent(new Event("media")));
      this.dispatchEvent(new Event("media"));
    });
  }

  // Our camera and microphone. The impolite side (the doctor) offers them at once; the polite
  // side (the patient) answers with them on the transceivers the offer created, so the two
  // never start by offering at the same moment.
  attach(stream) {
    this.stream = stream;
    this.videoTrack = stream?.getVideoTracks()[0] || null;
    if (this.polite) return;
    for (const kind of ["audio", "video"]) {
      const track = this.localTrack(kind);
      const init = { direction: "sendrecv", streams: stream ? [stream] : [] };
      const encodings = sendEncodings(kind, this.limits);
      if (encodings) init.sendEncodings = encodings;
      const transceiver = this.pc.addTransceiver(track || kind, init);
      this.protect(transceiver, kind);
      this.senders[kind] = transceiver.sender;
    }
  }

  localTrack(kind) {
    if (kind === "video") return this.videoTrack;
    return this.stream?.getAudioTracks()[0] || null;
  }

  async answerWithOurTracks() {
    for (const transceiver of this.pc.getTransceivers()) {
      const kind = transceiver.receiver.track.kind;
      if (this.senders[kind] || transceiver.currentDirection === "stopped") continue;
      transceiver.direction = "sendrecv";
      await transceiver.sender.replaceTrack(this.localTrack(kind));
      if (this.stream) transceiver.sender.setStreams(this.stream);
      this.senders[kind] = transceiver.sender;
    }
  }

  protect(transceiver, kind) {
    this.protection?.sending(transceiver, kind);
    this.protection?.receiving(transceiver, kind, this.userId);
  }

  replaceVideo(track) {
    this.videoTrack = track;
    return this.senders.video?.replaceTrack(track);
  }

  // The network under the call changed or broke: gather afresh and renegotiate, until the
  // connection is back.
  watchIce() {
    const state = this.pc.iceConnectionState;
    if (state === "connected" || state === "completed" || state === "closed") {
      clearTimeout(this.restartTimer);
      this.restartTimer = null;
    } else if (state === "failed") {
      this.restartIce();
    } else if (state === "disconnected" && !this.restartTimer) {
      const grace = RESTART_AFTER_DISCONNECT_MS[this.polite ? "polite" : "offerer"];
      this.restartTimer = setTimeout(() => this.restartIce(), grace);
    }
  }

  async restartIce() {
    clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const pc = this.pc;
    if (["connected", "completed", "closed"].includes(pc.iceConnectionState)) return;
    this.iceRestarts += 1;
    this.note("ice restart");
    this.restartTimer = setTimeout(() => this.restartIce(), RESTART_RETRY_MS);
    // An offer still unanswered by now was lost: take it back so the restart can offer again.
    if (pc.signalingState === "have-local-offer") {
      await pc.setLocalDescription({ type: "rollback" }).catch(() => {});
    }
    pc.restartIce();
  }

  note(event) {
    this.trace.push(`${event} [${this.pc?.signalingState}]`);
    if (this.trace.length > 60) this.trace.shift();
  }

  async receive({ description, candidate }) {
    const pc = this.pc;
    this.note(`got ${description ? description.type : "candidate"}`);
    if (description) {
      const readyForOffer =
        !this.makingOffer && (pc.signalingState === "stable" || this.settingRemoteAnswer);
      const collision = description.type === "offer" && !readyForOffer;
      this.ignoreOffer = !this.polite && collision;
      if (this.ignoreOffer) return;
      this.settingRemoteAnswer = description.type === "answer";
      await pc.setRemoteDescription(description);
      this.settingRemoteAnswer = false;
      await this.addPendingCandidates();
      if (description.type === "offer") {
        await this.answerWithOurTracks();
        await pc.setLocalDescription();
        this.sendSignal({ description: pc.localDescription.toJSON() });
      }
    } else if (candidate) {
      // A candidate can outrun the description it belongs to (or belong to an offer we set
      // aside in a collision: the ICE credentials stay the same). Keep it until it fits.
      if (!pc.remoteDescription || this.ignoreOffer) {
        this.pendingCandidates.push(candidate);
        return;
      }
      try {
        await pc.addIceCandidate(candidate);
      } catch (error) {
        this.pendingCandidates.push(candidate);
      }
    }
  }

  async addPendingCandidates() {
    const pending = this.pendingCandidates.splice(0);
    for (const candidate of pending) {
      await this.pc.addIceCandidate(candidate).catch(() => {});
    }
  }

  close() {
    clearTimeout(this.restartTimer);
    this.pc.close();
  }
}
