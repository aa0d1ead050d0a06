// The room's WebSocket: JSON frames, keep-alive pings, and reconnection with backoff
// (reconnect.js). A drop (network, server restart) reconnects on its own; a refusal (one of
// the final close codes the config lists, see docs/protocol.md) is final and reported as a
// "closed" event, as is our own close().

import { isFinalClose, reconnectDelay } from "./reconnect.js";

const PING_MS = 10_000;
// A close code in the application's range that the server never sends: it stands for a
// dropped network (the test hook's dropSocket).
const SIMULATED_DROP = 4999;

export class RoomSocket extends EventTarget {
  constructor(path, { finalCloseCodes, pingFrame }) {
    super();
    this.path = path;
    this.finalCloseCodes = finalCloseCodes;
    this.pingFrame = pingFrame;
    this.attempt = 0;
    this.finished = false;
    this.ws = null;
    this.pinger = null;
  }

  get isOpen() {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + this.path);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.attempt = 0;
      this.pinger = setInterval(() => this.send(this.pingFrame), PING_MS);
      this.dispatchEvent(new Event("open"));
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
    });
    ws.addEventListener("close", (event) => {
      clearInterval(this.pinger);
      if (this.ws !== ws) return; // an older socket we already replaced
      if (this.finished || isFinalClose(event.code, this.finalCloseCodes)) {
        this.finished = true;
        this.dispatchEvent(new CustomEvent("closed", { detail: { code: event.code } }));
        return;
      }
      const delay = reconnectDelay(this.attempt);
      this.attempt += 1;
      this.dispatchEvent(new CustomEvent("reconnecting", { detail: { delay } }));
      setTimeout(() => this.connect(), delay);
    });
  }

  send(frame) {
    if (this.isOpen) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  close() {
    this.finished = true;
    this.ws?.close(1000);
  }

  // Simulates a network drop (the test hook's dropSocket): the socket reconnects by itself.
  drop() {
    this.ws?.close(SIMULATED_DROP);
  }
}
