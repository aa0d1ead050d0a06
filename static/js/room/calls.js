// Media through Cloudflare Calls, reached only through our room-scoped proxy (the app secret
// never leaves the server). Two Calls sessions: one connection pushes our tracks (its session
// is announced to the room), the other pulls the tracks others announce. Keeping the directions
// apart means the SFU's offers never renegotiate what our own offer set up. Operations run one
// at a time, because each is an SDP negotiation.

import { fetchJson } from "./http.js";
import { sendEncodings } from "./limits.js";
import { limitSender } from "./media.js";


export class CallsLink extends EventTarget {
  constructor({ callsUrl, iceServers, limits, protection = null, pcOptions = {} }) {
    super();
    // End-to-end encryption (e2ee/protection.js) puts its transforms on each transceiver.
    this.protection = protection;
    this.callsUrl = callsUrl;
    this.limits = limits;
    this.sessionId = null; // the pushing session, announced to the room
    this.pullSessionId = null;
    this.queue = Promise.resolve();
    this.pulled = new Map(); // "<session>/<track>" -> {mid, track}
    this.published = []; // [{name, kind}] pushed from the pushing session
    this.pushPc = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle", ...pcOptions });
    this.pc = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle", ...pcOptions }); // pulls
    // Each pulled track's decryption goes on while the SFU's offer is being set: Chromium runs
    // a transform set any later on no frame at all (the media would pass in the clear).
    this.pc.addEventListener("track", ({ track, transceiver }) =>
      this.protection?.receiving(transceiver, track.kind),
    );
    this.pc.addEventListener("connectionstatechange", () =>
      this.dispatchEvent(new CustomEvent("state", { detail: this.pc.connectionState })),
    );
  }

  run(task) {
    this.queue = this.queue.then(task, task);
    return this.queue;
  }

  async api(method, path, body) {
    const { ok, status, data } = await fetchJson(this.callsUrl + path, { method, body });
    if (!ok) throw new Error(data.detail || `Calls proxy answered ${status}`);
    return data;
  }

  start() {
    return this.run(async () => {
      this.sessionId = (await this.api("POST", "sessions/new", {})).sessionId;
      this.pullSessionId = (await this.api("POST", "sessions/new", {})).sessionId;
    });
  }

  // tracks: [{track, name}]
  push(tracks) {
    return this.run(async () => {
      const transceivers = tracks.map(({ track }) =>
        this.pushPc.addTransceiver(track, {
          direction: "sendonly",
          sendEncodings: sendEncodings(track.kind, this.limits),
        }),
      );
      for (const transceiver of transceivers) {
        this.protection?.sending(transceiver, transceiver.sender.track.kind);
      }
      await this.pushPc.setLocalDescription(await this.pushPc.createOffer());
      const answer = await this.api("POST", `sessions/${this.sessionId}/tracks/new`, {
        sessionDescription: { type: "offer", sdp: this.pushPc.localDescription.sdp },
        tracks: transceivers.map((transceiver, index) => ({
          location: "local",
          mid: transceiver.mid,
          trackName: tracks[index].name,
        })),
      });
      await this.pushPc.setRemoteDescription(answer.sessionDescription);
      this.senders = Object.fromEntries(transceivers.map((t) => [t.sender.track.kind, t.sender]));
      this.published.push(...tracks.map(({ track, name }) => ({ name, kind: track.kind })));
      for (const transceiver of transceivers) limitSender(transceiver.sender, this.limits);
    });
  }

  replaceVideo(track) {
    return this.senders?.video?.replaceTrack(track);
  }

  // Pull the tracks of one remote session we do not have yet; resolves to their MediaStreamTracks.
  pull(remoteSessionId, trackNames) {
    return this.run(async () => {
      const wanted = trackNames.filter((name) => !this.pulled.has(`${remoteSessionId}/${name}`));
      if (wanted.length === 0) return;
      const result = await this.api("POST", `sessions/${this.pullSessionId}/tracks/new`, {
        tracks: wanted.map((name) => ({
          location: "remote",
          sessionId: remoteSessionId,
          trackName: name,
        })),
      });
      if (result.requiresImmediateRenegotiation) {
        await this.pc.setRemoteDescription(result.sessionDescription);
        await this.pc.setLocalDescription(await this.pc.createAnswer());
        await this.api("PUT", `sessions/${this.pullSessionId}/renegotiate`, {
          sessionDescription: { type: "answer", sdp: this.pc.localDescription.sdp },
        });
      }
      for (const track of result.tracks || []) {
        if (track.errorCode || !track.mid) continue;
        const transceiver = this.pc.getTransceivers().find((t) => t.mid === track.mid);
        if (!transceiver) continue;
        const received = transceiver.receiver.track;
        this.pulled.set(`${remoteSessionId}/${track.trackName}`, { mid: track.mid, track: received });
        // Sound and pictures start later than the track: tell the page when they do.
        received.addEventListener("unmute", () => this.dispatchEvent(new Event("media")));
      }
      this.dispatchEvent(new Event("media"));
    });
  }

  pulledSessions() {
    return new Set([...this.pulled.keys()].map((key) => key.split("/")[0]));
  }

  tracksOf(remoteSessionId) {
    return [...this.pulled.entries()]
      .filter(([key]) => key.startsWith(`${remoteSessionId}/`))
      .map(([, value]) => value.track);
  }

  // Stop pulling a session that left the room.
  drop(remoteSessionId) {
    return this.run(async () => {
      const gone = [...this.pulled.entries()].filter(([key]) =>
        key.startsWith(`${remoteSessionId}/`),
      );
      if (gone.length === 0) return;
      for (const [key, { mid }] of gone) {
        this.pulled.delete(key);
        this.pc.getTransceivers().find((t) => t.mid === mid)?.stop();
      }
      const tracks = gone.map(([, { mid }]) => ({ mid }));
      const path = `sessions/${this.pullSessionId}/tracks/close`;
      if (this.pulled.size === 0) {
        // Nothing left to bundle, so no offer can be made (max-bundle): close without one.
        await this.api("PUT", path, { tracks, force: true });
        return;
      }
      await this.pc.setLocalDescription(await this.pc.createOffer());
      const result = await this.api("PUT", path, {
        tracks,
        sessionDescription: { type: "offer", sdp: this.pc.localDescription.sdp },
        force: false,
      });
      if (result.sessionDescription) await this.pc.setRemoteDescription(result.sessionDescription);
    });
  }

  close() {
    this.pushPc.close();
    this.pc.close();
  }
}
