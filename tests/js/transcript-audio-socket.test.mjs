// The doctor's audio socket client (static/js/room/transcript/audio-socket.js) against a fake
// WebSocket: the frames it sends, the window it keeps, what each close code makes it do.
import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";

import { AudioSocket } from "../../static/js/room/transcript/audio-socket.js";

class FakeSocket extends EventTarget {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static made = [];

  constructor(url) {
    super();
    this.url = url;
    this.readyState = FakeSocket.CONNECTING;
    this.sent = [];
    this.bufferedAmount = 0;
    FakeSocket.made.push(this);
  }

  send(data) {
    this.sent.push(typeof data === "string" ? JSON.parse(data) : new Uint8Array(data));
  }

  close(code = 1000) {
    this.readyState = FakeSocket.CLOSED;
    this.dispatchEvent(Object.assign(new Event("close"), { code }));
  }

  // The server's side.
  open() {
    this.readyState = FakeSocket.OPEN;
    this.dispatchEvent(new Event("open"));
  }

  say(frame) {
    this.dispatchEvent(Object.assign(new Event("message"), { data: JSON.stringify(frame) }));
  }

  closedByServer(code) {
    this.readyState = FakeSocket.CLOSED;
    this.dispatchEvent(Object.assign(new Event("close"), { code }));
  }

  get binary() {
    return this.sent.filter((frame) => frame instanceof Uint8Array);
  }

  get json() {
    return this.sent.filter((frame) => !(frame instanceof Uint8Array));
  }
}

let timers;
beforeEach(() => {
  FakeSocket.made = [];
  globalThis.WebSocket = FakeSocket;
  globalThis.location = { protocol: "http:", host: "clinic.test" };
  timers = [];
  // Timers by hand: the test says when time passes.
  globalThis.setTimeout = (fn, ms) => timers.push({ fn, ms }) && timers.length;
  globalThis.clearTimeout = () => {};
  globalThis.setInterval = () => 0;
  globalThis.clearInterval = () => {};
});
afterEach(() => {
  delete globalThis.WebSocket;
});

const pcm = (ms) => new Int16Array(ms * 16).fill(7);

function connected(speakers = [12, 31]) {
  const socket = new AudioSocket("/ws/rooms/r1/audio/");
  socket.run();
  const ws = FakeSocket.made.at(-1);
  ws.open();
  ws.say({ type: "audio.ready", sample_rate: 16000, max_backlog_ms: 1000, max_frame_bytes: 32001 });
  socket.speakersAre(speakers);
  speakers.forEach((userId, stream) => ws.say({ type: "stream.opened", stream, speaker: { user_id: userId } }));
  return { socket, ws };
}

test("it opens the room's audio socket and one stream per speaker", () => {
  const { ws } = connected();
  assert.equal(ws.url, "ws://clinic.test/ws/rooms/r1/audio/");
  assert.deepEqual(ws.json, [
    { type: "stream.open", stream: 0, speaker_user_id: 12 },
    { type: "stream.open", stream: 1, speaker_user_id: 31 },
  ]);
});

test("audio goes as binary frames, stream byte first, within the server's window", () => {
  const { socket, ws } = connected();
  socket.audio(31, pcm(600));
  socket.audio(31, pcm(600));
  socket.pump();
  assert.equal(ws.binary.length, 1);
  assert.equal(ws.binary[0][0], 1); // stream 1: Hanako's
  assert.equal(ws.binary[0].length, 1 + 1000 * 32); // the window's 1000 ms, no more
  ws.say({ type: "audio.ack", stream: 1, received_ms: 1000, recognised_ms: 1000 });
  assert.equal(ws.binary.length, 2);
  assert.equal(ws.binary[1].length, 1 + 200 * 32);
  assert.equal(socket.status.framesSent, 2);
});

test("while the socket's own buffer is full, nothing more is handed to it", () => {
  const { socket, ws } = connected();
  ws.bufferedAmount = 1 << 20;
  socket.audio(12, pcm(100));
  socket.pump();
  assert.equal(ws.binary.length, 0);
  ws.bufferedAmount = 0;
  socket.pump();
  assert.equal(ws.binary.length, 1);
});

test("partials and segments reach the panel", () => {
  const { socket, ws } = connected();
  const seen = [];
  socket.addEventListener("partial", ({ detail }) => seen.push(["partial", detail.text]));
  socket.addEventListener("segment", ({ detail }) => seen.push(["segment", detail.segment.id]));
  ws.say({ type: "transcript.partial", stream: 1, speaker: { user_id: 31 }, text: "I have a" });
  ws.say({ type: "transcript.segment", segment: { id: 5, text: "I have a cough." } });
  assert.deepEqual(seen, [["partial", "I have a"], ["segment", 5]]);
});

test("a speaker gone gets stream.close", () => {
  const { socket, ws } = connected();
  socket.speakersAre([12]);
  assert.deepEqual(ws.json.at(-1), { type: "stream.close", stream: 1 });
});

test("4409 (not on): no reconnect until the room says on again", () => {
  const { socket, ws } = connected();
  ws.closedByServer(4409);
  assert.equal(timers.length, 0);
  assert.equal(FakeSocket.made.length, 1);
  socket.run(); // room.state: on again
  assert.equal(FakeSocket.made.length, 2);
});

test("a dropped connection reconnects with backoff, and the streams open again", () => {
  const { socket, ws } = connected();
  socket.audio(12, pcm(200)); // waits here: the stream is not yet sent
  ws.closedByServer(1006);
  assert.equal(timers.length, 1);
  assert.equal(timers[0].ms, 500);
  timers[0].fn();
  const again = FakeSocket.made.at(-1);
  assert.notEqual(again, ws);
  again.open();
  again.say({ type: "audio.ready", max_backlog_ms: 20000, max_frame_bytes: 32001 });
  assert.deepEqual(again.json.map((f) => f.type), ["stream.open", "stream.open"]);
  again.say({ type: "stream.opened", stream: 0 });
  assert.equal(again.binary.length, 1); // what waited goes now
  assert.equal(socket.status.socketsOpened, 2);
});

test("refusals are final: no reconnect, a problem said", () => {
  for (const code of [4401, 4403, 4404, 4429]) {
    timers = [];
    const { socket, ws } = connected();
    const problems = [];
    socket.addEventListener("problem", ({ detail }) => problems.push(detail.text));
    ws.closedByServer(code);
    assert.equal(timers.length, 0, `${code}`);
    assert.equal(problems.length, 1);
  }
});

test("stopped: the socket closes, nothing captured later is kept or sent", () => {
  const { socket, ws } = connected();
  socket.halt({ drop: true });
  assert.equal(ws.readyState, FakeSocket.CLOSED);
  socket.audio(12, pcm(500));
  socket.pump();
  assert.equal(ws.binary.length, 0);
  assert.deepEqual(socket.status.streams, []);
});

test("a frame refused for the backlog is counted as lost and frees the window", () => {
  const { socket, ws } = connected();
  const notices = [];
  socket.addEventListener("notice", ({ detail }) => notices.push(detail.text));
  socket.audio(12, pcm(3000));
  socket.pump();
  ws.say({ type: "error", code: "audio_backlog", stream: 0, message: "too far ahead" });
  assert.equal(socket.status.streams[0].lostMs, 1000);
  assert.equal(ws.binary.length, 2); // the window took the next second
  assert.match(notices.at(-1), /1 s of audio not transcribed/);
});

test("paused: audio that reaches it meanwhile is not kept; what waited from before goes on resume", () => {
  const { socket, ws } = connected([12]);
  ws.bufferedAmount = 1 << 20; // nothing leaves yet
  socket.audio(12, pcm(300));
  socket.pump();
  socket.halt({ drop: false });
  socket.audio(12, pcm(500)); // captured after the pause: not consented
  assert.equal(socket.status.streams[0].queuedMs, 300);
  socket.run();
  const again = FakeSocket.made.at(-1);
  again.open();
  again.say({ type: "audio.ready", max_backlog_ms: 20000, max_frame_bytes: 32001 });
  again.say({ type: "stream.opened", stream: 0 });
  assert.equal(again.binary.length, 1);
  assert.equal(again.binary[0].length, 1 + 300 * 32);
});

test("a refused stream.open is forgotten, and asked again at the next sync", () => {
  const socket = new AudioSocket("/ws/rooms/r1/audio/");
  socket.run();
  const ws = FakeSocket.made.at(-1);
  ws.open();
  ws.say({ type: "audio.ready", max_backlog_ms: 20000, max_frame_bytes: 32001 });
  socket.speakersAre([12, 31]);
  ws.say({ type: "stream.opened", stream: 0 });
  ws.say({ type: "error", code: "not_found", stream: 1, message: "not admitted" });
  assert.deepEqual(socket.status.streams.map((s) => s.userId), [12]);
  socket.speakersAre([12, 31]);
  assert.deepEqual(ws.json.at(-1), { type: "stream.open", stream: 1, speaker_user_id: 31 });
});
