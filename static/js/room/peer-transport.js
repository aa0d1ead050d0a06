// Peer-to-peer media (the media transport of transport.js): one PeerLink (peer.js) per other
// participant, signaled over the room's WebSocket.

import { LeaveGrace } from "./grace.js";
import { PeerLink } from "./peer.js";

export class PeerTransport extends EventTarget {
  constructor({ iceServers, limits, local, send, frames, polite, protection, pcOptions }) {
    super();
    this.protection = protection;
    this.pcOptions = pcOptions;
    this.iceServers = iceServers;
    this.limits = limits;
    this.local = local;
    this.send = send;
    this.frames = frames;
    this.polite = polite;
    this.peers = new Map(); // user id -> {link, pid}
    // A reconnect looks like leave-then-join: keep the connection a moment before closing it.
    this.grace = new LeaveGrace((userId) => this.drop(userId));
  }

  async sync(others) {
    for (const other of others) this.ensure(other);
    const present = new Set(others.map((other) => other.user_id));
    this.grace.update(this.peers.keys(), (userId) => present.has(userId));
  }

  entered() {} // nothing to announce: each link negotiates for itself

  async signal(sender, data) {
    if (data.hello) {
      // The other side opened a new page (a reload): start a fresh connection to it.
      const existing = this.peers.get(sender.user_id);
      if (existing?.link.pc.remoteDescription) this.drop(sender.user_id);
      this.ensure(sender);
      return;
    }
    try {
      await this.ensure(sender).link.receive(data);
    } catch (error) {
      // An offer from a page that was reloaded cannot renegotiate our old connection.
      if (data.description?.type !== "offer") return console.warn("signal failed", error);
      this.drop(sender.user_id);
      await this.ensure(sender).link.receive(data);
    }
  }

  forget(participant) {
    this.drop(participant.user_id);
  }

  replaceVideo(track) {
    for (const { link } of this.peers.values()) link.replaceVideo(track);
  }

  mediaOf(userId) {
    return this.peers.get(userId)?.link.remoteStream || null;
  }

  get remoteCount() {
    return this.peers.size;
  }

  receivingConnections() {
    return [...this.peers.values()].map(({ link }) => link.pc);
  }

  connections() {
    return [...this.peers.values()].map(({ link }) => ({
      pc: link.pc,
      iceRestarts: link.iceRestarts,
      trace: [...link.trace],
    }));
  }

  close() {
    this.grace.clear();
    for (const { link } of this.peers.values()) link.close();
    this.peers.clear();
  }

  ensure(participant) {
    let peer = this.peers.get(participant.user_id);
    if (!peer) {
      const link = new PeerLink({
        polite: this.polite,
        iceServers: this.iceServers,
        limits: this.limits,
        protection: this.protection,
        pcOptions: this.pcOptions,
        userId: participant.user_id,
        sendSignal: (data) => this.send({ type: this.frames.SIGNAL, to: peer.pid, data }),
      });
      link.attach(this.local.stream);
      if (this.local.screen) link.replaceVideo(this.local.screen);
      const userId = participant.user_id;
      link.addEventListener("media", () =>
        this.dispatchEvent(new CustomEvent("media", { detail: { userId, stream: link.remoteStream } })),
      );
      peer = { link, pid: participant.participant_id };
      this.peers.set(userId, peer);
      // The answering side says it is new, so an offerer holding a stale connection starts over.
      if (link.polite) link.sendSignal({ hello: true });
    }
    peer.pid = participant.participant_id; // changes when they reconnect
    this.grace.cancel(participant.user_id);
    return peer;
  }

  drop(userId) {
    const peer = this.peers.get(userId);
    if (!peer) return;
    this.grace.cancel(userId);
    peer.link.close();
    this.peers.delete(userId);
  }
}
