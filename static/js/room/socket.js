// The room's WebSocket: JSON frames, keep-alive pings, and reconnection with backoff.
// A drop (network, server restart) reconnects on its own; a refusal (see docs/protocol.md)
// is final and reported as a "closed" event.

// Our own close() sets `finished`; the server ends a visit only with these codes.
const FINAL_CODES = new Set([4000, 4401, 4403, 4404, 4409, 4429]);
const PING_MS = 10_000;
const MAX_BACKOFF_MS = 8_000;

export class RoomSocket extends EventTarget {
  constructor(path) {
    super();
    this.path = path;
    this.attempt = 0;
    this.finished = false;
    this.ws = null;
    this.pinger = null;
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + this.path);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.attempt = 0;
      this.pinger = setInterval(() => this.send({ type: "ping" }), PING_MS);
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
      if (this.finished || FINAL_CODES.has(event.code)) {
        this.finished = true;
        this.dispatchEvent(new CustomEvent("closed", { detail: { code: event.code } }));
        return;
      }
      const delay = Math.min(500 * 2 ** this.attempt, MAX_BACKOFF_MS);
      this.attempt += 1;
      this.dispatchEvent(new CustomEvent("reconnecting", { detail: { delay } }));
      setTimeout(() => this.connect(), delay);
    });
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  close() {
    this.finished = true;
    this.ws?.close(1000);
  }

  // Simulates a network drop (used by the end-to-end tests): the socket reconnects by itself.
  drop() {
    this.ws?.close(4999);
  }
}
