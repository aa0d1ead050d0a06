// Media through Cloudflare Calls (the media transport of transport.js): our tracks are pushed
// on one session, the others' pulled on another (calls.js), and the room learns our session
// from the proxy and from a `tracks` frame on each new room entry.

import { CallsLink } from "./calls.js";
import { LeaveGrace } from "./grace.js";

export class CallsTransport extends EventTarget {
  constructor({ callsUrl, iceServers, limits, local, send, frames, myUserId, protection, pcOptions }) {
    super();
    this.local = local;
    this.send = send;
    this.frames = frames;
    this.myUserId = myUserId;
    this.others = [];
    this.streams = new Map(); // user id -> the MediaStream last handed out for them
    this.options = { callsUrl, iceServers, limits, protection, pcOptions };
    this.link = null; // made on the first sync: a waiting patient holds no Calls connection
    this.started = null;
    // Someone left, or reloaded into a new Calls session: stop pulling the sessions nobody
    // announces any more, after the grace a reconnect needs to announce itself again.
    this.grace = new LeaveGrace((sessionId) => this.dropSession(sessionId));
  }

  async sync(others) {
    this.others = others;
    if (!this.link) {
      this.link = new CallsLink(this.options);
      this.link.addEventListener("media", () => this.mediaChanged());
      this.started = this.start();
      try {
        await this.started;
      } catch (error) {
        throw new Error(`Video could not start: ${error.message}`, { cause: error });
      }
    }
    const announced = new Set(others.map((other) => other.session_id).filter(Boolean));
    this.grace.update(this.link.pulledSessions(), (sessionId) => announced.has(sessionId));
    for (const other of others) {
      if (other.session_id && other.tracks.length) {
        this.link
          .pull(
            other.session_id,
            other.tracks.map((track) => track.name),
          )
          .catch((error) => console.warn("pull failed", error));
      }
    }
  }

  async start() {
    await this.link.start();
    const tracks = (this.local.stream?.getTracks() || []).map((track) => ({
      track,
      name: `${this.myUserId()}-${track.kind}`,
    }));
    if (tracks.length) await this.link.push(tracks);
  }

  // A reconnected socket is a new room entry without our Calls session: announce it again,
  // so others (and anyone who reloads) keep pulling our tracks.
  entered() {
    if (!this.link?.published.length) return;
    this.send({
      type: this.frames.TRACKS,
      session_id: this.link.sessionId,
      tracks: this.link.published,
    });
  }

  signal() {} // Calls needs no signaling between pages

  forget(participant) {
    if (!participant.session_id) return;
    if (!this.link) return;
    this.grace.cancel(participant.session_id);
    this.dropSession(participant.session_id);
  }

  replaceVideo(track) {
    return this.link?.replaceVideo(track);
  }

  mediaOf(userId) {
    const other = this.others.find((p) => p.user_id === userId);
    const tracks = other?.session_id && this.link ? this.link.tracksOf(other.session_id) : [];
    if (!tracks.length) return null;
    // The stream handed out before when it holds just these tracks (so the video element
    // and its audio meter are not reset), else a new one.
    const shown = this.streams.get(userId);
    const same =
      shown?.getTracks().length === tracks.length &&
      tracks.every((track) => shown.getTracks().includes(track));
    const stream = same ? shown : new MediaStream(tracks);
    this.streams.set(userId, stream);
    return stream;
  }

  get remoteCount() {
    return this.link ? this.link.pulledSessions().size : 0;
  }

  receivingConnections() {
    return this.link ? [this.link.pc] : [];
  }

  connections() {
    if (!this.link) return [];
    return [this.link.pushPc, this.link.pc].map((pc) => ({ pc, iceRestarts: 0, trace: [] }));
  }

  close() {
    this.grace.clear();
    this.link?.close();
  }

  mediaChanged() {
    for (const other of this.others) {
      if (other.user_id === this.myUserId()) continue;
      const stream = this.mediaOf(other.user_id);
      if (stream) {
        this.dispatchEvent(new CustomEvent("media", { detail: { userId: other.user_id, stream } }));
      }
    }
  }

  dropSession(sessionId) {
    this.link.drop(sessionId).catch((error) => console.warn("drop failed", error));
  }
}
