// The visit room page: pre-call check, waiting room, the call (peer-to-peer or through
// Cloudflare Calls), chat and the doctor's notes. Protocol: docs/protocol.md.

import { CallsLink } from "./calls.js";
import { ChatPanel } from "./chat.js";
import {
  canChooseSpeaker,
  captureConstraints,
  explainMediaError,
  fillSelect,
  listDevices,
  meterAudio,
  playThrough,
  playTone,
  rememberDevices,
  rememberedDevices,
} from "./media.js";
import { NotesEditor } from "./notes.js";
import { PeerLink } from "./peer.js";
import { RoomSocket } from "./socket.js";
import { describe, watchConnection } from "./stats.js";

const config = JSON.parse(document.getElementById("room-config").textContent);
const $ = (id) => document.getElementById(id);
const joinedKey = `clinic-meet:joined:${config.roomId}`;
const LEAVE_GRACE_MS = 8000;
// The speaking indicator lights above this level and stays lit this long after the last
// loud moment, so it follows speech rather than flickering with every syllable.
const SPEAKING_LEVEL = 0.08;
const SPEAKING_HOLD_MS = 600;

const room = {
  socket: null,
  stream: null, // camera + microphone
  screen: null, // screen-share track while sharing
  micOn: true,
  cameraOn: true,
  me: null,
  userId: null,
  participants: [],
  peers: new Map(), // user id -> {link, tile, pid, leaving}
  calls: null,
  leavingSessions: new Map(), // Calls session id -> timer, while nobody announces it
  leavingTiles: new Map(), // user id -> timer, while they are not in the room (Calls mode)
  sentAway: new Set(), // participant ids the doctor asked to remove or deny
  tiles: new Map(), // user id -> tile element
  waitingCount: 0,
  lastNotice: null,
  iceServers: [],
  speakerId: rememberedDevices().speakerId || "default",
  testSound: null, // the last speaker test's <audio> element
  ended: false,
  stopMeter: () => {},
};
window.clinicMeet = room; // for the end-to-end tests and for support

// --- Stages ---------------------------------------------------------------------------------

function showStage(name) {
  for (const stage of ["precall", "waiting", "call", "ended"]) $(stage).hidden = stage !== name;
  $("chat-panel").hidden = name !== "call";
}

// The status badge in the visit details, which the page rendered as the visit stood then.
function showVisitStatus(status) {
  const badge = $("visit-status");
  if (!badge || !config.statusLabels[status]) return;
  badge.className = `badge badge--${status}`;
  badge.textContent = config.statusLabels[status];
}

function announce(text) {
  $("room-announcer").textContent = text;
}

// --- Pre-call check -------------------------------------------------------------------------

async function startPreview() {
  room.stopMeter();
  room.stream?.getTracks().forEach((track) => track.stop());
  $("device-problem").hidden = true;
  // First time on this page: the devices used last time, if they are still there.
  const chosen = $("camera-select").options.length
    ? { cameraId: $("camera-select").value, micId: $("mic-select").value }
    : { ...rememberedDevices(), preferred: true };
  try {
    room.stream = await navigator.mediaDevices.getUserMedia(
      captureConstraints(config.media, chosen),
    );
  } catch (error) {
    room.stream = null;
    const { title, help } = explainMediaError(error);
    $("device-problem-title").textContent = title;
    $("device-problem-help").textContent = help;
    $("device-problem").hidden = false;
    return;
  }
  $("preview").srcObject = room.stream;
  await refreshDevices();
  rememberDevices({ cameraId: deviceInUse("video"), micId: deviceInUse("audio") });
  room.stopMeter = meterAudio(room.stream, (level) => {
    $("mic-level").value = level;
  });
}

function deviceInUse(kind) {
  return room.stream?.getTracks().find((track) => track.kind === kind)?.getSettings().deviceId;
}

// Device lists, again whenever a device is plugged in or out.
async function refreshDevices() {
  const { cameras, mics, speakers } = await listDevices();
  fillSelect($("camera-select"), cameras, deviceInUse("video"));
  fillSelect($("mic-select"), mics, deviceInUse("audio"));
  const speakerId = speakers.some((s) => s.deviceId === room.speakerId) ? room.speakerId : "default";
  for (const id of ["speaker-select", "call-speaker-select"]) fillSelect($(id), speakers, speakerId);
  $("speaker-field").hidden = speakers.length === 0 || !canChooseSpeaker();
  $("call-speaker-field").hidden = speakers.length < 2 || !canChooseSpeaker();
}

// The speaker for everything the call plays: set from either picker, kept for next time.
function chooseSpeaker(speakerId) {
  room.speakerId = speakerId;
  rememberDevices({ speakerId });
  for (const id of ["speaker-select", "call-speaker-select"]) $(id).value = speakerId;
  for (const tile of room.tiles.values()) playThrough(tile.querySelector("video"), speakerId);
}

async function testSpeaker() {
  $("speaker-test-hint").textContent = "Playing a test sound…";
  try {
    room.testSound = await playTone(room.speakerId);
    $("speaker-test-hint").textContent =
      "Did you hear a tone? If not, turn up the volume or choose another speaker.";
  } catch (error) {
    $("speaker-test-hint").textContent = `The test sound could not play: ${error.message}`;
  }
}

function applyJoinChoices() {
  room.cameraOn = !$("join-camera-off").checked && !!room.stream?.getVideoTracks().length;
  room.micOn = !$("join-mic-off").checked && !!room.stream?.getAudioTracks().length;
  room.stream?.getVideoTracks().forEach((track) => (track.enabled = room.cameraOn));
  room.stream?.getAudioTracks().forEach((track) => (track.enabled = room.micOn));
}

async function join() {
  $("join-button").disabled = true;
  room.stopMeter();
  applyJoinChoices();
  sessionStorage.setItem(
    joinedKey,
    JSON.stringify({ cameraOff: !room.cameraOn, micOff: !room.micOn }),
  );
  try {
    const response = await fetch(config.iceServersUrl, { credentials: "same-origin" });
    room.iceServers = response.ok ? (await response.json()).iceServers : [];
  } catch {
    room.iceServers = [];
  }
  for (const id of ["self-view", "waiting-self"]) $(id).srcObject = room.stream;
  updateControls();
  showStage(config.role === "patient" ? "waiting" : "call");
  room.socket = new RoomSocket(config.socketPath);
  room.socket.addEventListener("frame", (event) => onFrame(event.detail));
  room.socket.addEventListener("reconnecting", () => {
    room.chat?.connectionLost();
    announce("Connection lost; reconnecting…");
  });
  room.socket.addEventListener("open", () => announce("Connected."));
  room.socket.addEventListener("closed", (event) => onClosed(event.detail.code));
  room.socket.connect();
}

// --- Frames from the room -------------------------------------------------------------------

function onFrame(frame) {
  switch (frame.type) {
    case "room.state":
      return onState(frame);
    case "signal":
      return onSignal(frame);
    case "chat":
      return room.chat?.show(frame);
    case "error":
      // An error naming a chat message of ours: that message shows "Not sent" with a Retry.
      if (frame.client_id) room.chat?.notSent(frame.client_id);
      announce(frame.message);
      return console.warn("room error", frame.code, frame.message);
    case "room.denied":
    case "room.removed":
    case "room.closed":
      room.lastNotice = frame.message;
      return;
    case "room.ended":
      room.lastNotice = "The doctor ended the visit.";
      showVisitStatus("completed");
      return;
  }
}

function onState(state) {
  // Each connection is a fresh room entry: tell it our media state once.
  const newConnection = room.me?.participant_id !== state.you.participant_id;
  const previous = room.participants;
  room.me = state.you;
  room.participants = state.participants;
  const mine = state.participants.find((p) => p.participant_id === state.you.participant_id);
  if (mine) room.userId = mine.user_id;
  if (newConnection) {
    sendMediaFlags();
    announceCallsTracks();
  }
  if (state.you.status === "waiting") {
    showStage("waiting");
    const doctor = state.participants.find((p) => p.role === "doctor");
    $("waiting-doctor").textContent = doctor ? doctor.display_name : "Your doctor";
    return;
  }
  showStage("call");
  // Admitting the patient starts the visit (the server moves the appointment along).
  if (state.participants.some((p) => p.role === "patient" && p.status === "admitted")) {
    showVisitStatus("in_progress");
  }
  if (!room.chat) {
    room.chat = new ChatPanel({
      log: $("chat-log"),
      form: $("chat-form"),
      input: $("chat-input"),
      send: (frame) => room.socket.send(frame),
      myUserId: room.userId,
    });
  }
  for (const message of state.chat || []) room.chat.show(message);
  if (config.role === "doctor") renderPeople(state.participants);
  const others = state.participants.filter(
    (p) => p.status === "admitted" && p.user_id !== room.userId,
  );
  $("alone").hidden = others.length > 0;
  if (config.callsUrl) syncCalls(others);
  else syncPeers(others);
  forgetSentAway(previous, state.participants);
  for (const other of others) renderTile(other);
}

// Someone the doctor removed (or turned away) is no longer listed: the server has sent them
// out, so they are not reconnecting. Their media goes at once, without the leave grace.
function forgetSentAway(previous, current) {
  for (const pid of [...room.sentAway]) {
    if (current.some((p) => p.participant_id === pid)) continue;
    room.sentAway.delete(pid);
    const gone = previous.find((p) => p.participant_id === pid);
    if (!gone) continue;
    dropPeer(gone.user_id);
    clearTimeout(room.leavingTiles.get(gone.user_id));
    room.leavingTiles.delete(gone.user_id);
    removeTile(gone.user_id);
    if (gone.session_id && room.calls) {
      clearTimeout(room.leavingSessions.get(gone.session_id));
      room.leavingSessions.delete(gone.session_id);
      room.calls.drop(gone.session_id).catch((error) => console.warn("drop failed", error));
    }
  }
}

async function onSignal({ from, data }) {
  const sender = room.participants.find((p) => p.participant_id === from);
  if (!sender) return console.warn("signal from an unknown participant", from);
  if (data.hello) {
    // The other side opened a new page (a reload): start a fresh connection to it.
    const existing = room.peers.get(sender.user_id);
    if (existing?.link.pc.remoteDescription) dropPeer(sender.user_id);
    ensurePeer(sender);
    return;
  }
  try {
    await ensurePeer(sender).link.receive(data);
  } catch (error) {
    // An offer from a page that was reloaded cannot renegotiate our old connection.
    if (data.description?.type !== "offer") return console.warn("signal failed", error);
    dropPeer(sender.user_id);
    await ensurePeer(sender).link.receive(data);
  }
}

function dropPeer(userId) {
  const peer = room.peers.get(userId);
  if (!peer) return;
  clearTimeout(peer.leaving);
  peer.link.close();
  room.peers.delete(userId);
}

function onClosed(code) {
  const reasons = {
    4000: "You joined this visit from another window or device.",
    4403: room.lastNotice || "You cannot join this visit.",
    4409: room.lastNotice || "This visit has ended.",
    4401: "Your sign-in has expired. Sign in again to rejoin.",
  };
  endCall(reasons[code] || room.lastNotice || "You have left the visit.");
}

// --- Peer-to-peer media ---------------------------------------------------------------------

function ensurePeer(participant) {
  let peer = room.peers.get(participant.user_id);
  if (!peer) {
    const link = new PeerLink({
      polite: config.role === "patient",
      iceServers: room.iceServers,
      limits: config.media,
      sendSignal: (data) => room.socket.send({ type: "signal", to: peer.pid, data }),
    });
    link.attach(room.stream);
    if (room.screen) link.replaceVideo(room.screen);
    link.addEventListener("media", () => showStream(participant.user_id, link.remoteStream));
    peer = { link, pid: participant.participant_id, leaving: null };
    room.peers.set(participant.user_id, peer);
    // The answering side says it is new, so an offerer holding a stale connection starts over.
    if (link.polite) link.sendSignal({ hello: true });
  }
  peer.pid = participant.participant_id; // changes when they reconnect
  clearTimeout(peer.leaving);
  peer.leaving = null;
  return peer;
}

function syncPeers(others) {
  for (const other of others) ensurePeer(other);
  for (const [userId, peer] of room.peers) {
    if (others.some((p) => p.user_id === userId) || peer.leaving) continue;
    // A reconnect looks like leave-then-join: keep the connection a moment before closing it.
    peer.leaving = setTimeout(() => {
      dropPeer(userId);
      removeTile(userId);
    }, LEAVE_GRACE_MS);
  }
}

// --- Cloudflare Calls media -----------------------------------------------------------------

async function syncCalls(others) {
  if (!room.calls) {
    room.calls = new CallsLink({
      callsUrl: config.callsUrl,
      iceServers: room.iceServers,
      limits: config.media,
    });
    room.calls.addEventListener("media", () => {
      for (const other of room.participants) {
        if (!other.session_id || other.user_id === room.userId) continue;
        const tracks = room.calls.tracksOf(other.session_id);
        if (tracks.length) showStream(other.user_id, streamOf(other.user_id, tracks));
      }
    });
    try {
      await room.calls.start();
      const tracks = (room.stream?.getTracks() || []).map((track) => ({
        track,
        name: `${room.userId}-${track.kind}`,
      }));
      if (tracks.length) await room.calls.push(tracks);
    } catch (error) {
      announce(`Video could not start: ${error.message}`);
      return;
    }
  }
  forgetCallsLeavers(others);
  for (const other of others) {
    if (other.session_id && other.tracks.length) {
      room.calls
        .pull(
          other.session_id,
          other.tracks.map((t) => t.name),
        )
        .catch((error) => console.warn("pull failed", error));
    }
  }
}

// A reconnected socket is a new room entry without our Calls session: announce it again, so
// others (and anyone who reloads) keep pulling our tracks.
function announceCallsTracks() {
  if (!room.calls?.published.length) return;
  room.socket.send({
    type: "tracks",
    session_id: room.calls.sessionId,
    tracks: room.calls.published,
  });
}

// Someone left, or reloaded into a new Calls session: stop pulling the sessions nobody
// announces any more and remove the tiles of people who are gone, after the grace a
// reconnect needs to announce itself again.
function forgetCallsLeavers(others) {
  const announced = new Set(others.map((other) => other.session_id).filter(Boolean));
  const present = new Set(others.map((other) => other.user_id));
  afterGrace(
    room.leavingSessions,
    room.calls.pulledSessions(),
    (sessionId) => announced.has(sessionId),
    (sessionId) => room.calls.drop(sessionId).catch((error) => console.warn("drop failed", error)),
  );
  afterGrace(room.leavingTiles, room.tiles.keys(), (userId) => present.has(userId), removeTile);
}

// Forgets each of `keys` no longer `here`, unless it is back within LEAVE_GRACE_MS.
function afterGrace(timers, keys, here, forget) {
  for (const [key, timer] of timers) {
    if (!here(key)) continue;
    clearTimeout(timer);
    timers.delete(key);
  }
  for (const key of keys) {
    if (here(key) || timers.has(key)) continue;
    const timer = setTimeout(() => {
      timers.delete(key);
      forget(key);
    }, LEAVE_GRACE_MS);
    timers.set(key, timer);
  }
}

// The stream a tile already shows when it holds just these tracks (so the video element and
// its audio meter are not reset), else a new one.
function streamOf(userId, tracks) {
  const shown = room.tiles.get(userId)?.querySelector("video").srcObject;
  const same =
    shown?.getTracks().length === tracks.length &&
    tracks.every((track) => shown.getTracks().includes(track));
  return same ? shown : new MediaStream(tracks);
}

// --- Tiles ----------------------------------------------------------------------------------

function renderTile(participant) {
  let tile = room.tiles.get(participant.user_id);
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
    $("remote-videos").append(tile);
    room.tiles.set(participant.user_id, tile);
  }
  const states = [];
  if (!participant.audio) states.push("microphone off");
  if (!participant.video) states.push("camera off");
  if (participant.screen) states.push("sharing screen");
  tile.querySelector("figcaption").textContent =
    participant.display_name + (states.length ? ` — ${states.join(", ")}` : "");
  tile.dataset.audio = participant.audio;
  tile.dataset.video = participant.video;
  // Media may have arrived before the tile existed.
  const peer = room.peers.get(participant.user_id);
  if (peer) showStream(participant.user_id, peer.link.remoteStream);
}

function showStream(userId, stream) {
  const tile = room.tiles.get(userId);
  if (!tile) return;
  const video = tile.querySelector("video");
  if (video.srcObject !== stream) video.srcObject = stream;
  playThrough(video, room.speakerId); // again as tracks arrive: a switch mid-setup may not hold
  // Meter the audio once it carries sound (a remote track is muted until packets arrive), and
  // again if the track changes.
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

function removeTile(userId) {
  const tile = room.tiles.get(userId);
  tile?.stopMeter?.();
  tile?.remove();
  room.tiles.delete(userId);
}

// --- The doctor's people panel --------------------------------------------------------------

function renderPeople(participants) {
  const waiting = participants.filter((p) => p.status === "waiting");
  if (waiting.length > room.waitingCount) {
    chime();
    announce(`${waiting.at(-1).display_name} is waiting to join.`);
  }
  room.waitingCount = waiting.length;
  document.title = (waiting.length ? `(${waiting.length} waiting) ` : "") + "Visit room · Clinic Meet";
  $("waiting-list").replaceChildren(
    ...waiting.map((p) =>
      personRow(p, "is waiting", [
        ["Admit", "button--primary", { type: "admit", participant_id: p.participant_id }],
        ["Deny", "button--secondary", { type: "deny", participant_id: p.participant_id }],
      ]),
    ),
  );
  const admitted = participants.filter((p) => p.status === "admitted" && p.role !== "doctor");
  $("participant-list").replaceChildren(
    ...admitted.map((p) =>
      personRow(p, "is in the visit", [
        ["Remove", "button--secondary", { type: "remove", participant_id: p.participant_id }],
      ]),
    ),
  );
}

function personRow(participant, what, actions) {
  const item = document.createElement("li");
  item.className = "people__row";
  const label = document.createElement("span");
  label.textContent = `${participant.display_name} ${what}`;
  item.append(label);
  for (const [text, style, frame] of actions) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = `button button--small ${style}`;
    button.textContent = text;
    button.setAttribute("aria-label", `${text} ${participant.display_name}`);
    button.addEventListener("click", () => {
      if (frame.type === "remove" || frame.type === "deny") room.sentAway.add(frame.participant_id);
      room.socket.send(frame);
    });
    item.append(button);
  }
  return item;
}

function chime() {
  // Sound is a bonus; the title and the list carry the news.
  playTone(room.speakerId, { frequency: 880, seconds: 0.25, volume: 0.05 }).catch(() => {});
}

// --- Controls -------------------------------------------------------------------------------

function sendMediaFlags() {
  room.socket?.send({
    type: "media",
    audio: room.micOn,
    video: room.cameraOn,
    screen: !!room.screen,
  });
}

function updateControls() {
  const set = (id, pressed, on, off) => {
    $(id).setAttribute("aria-pressed", String(pressed));
    $(id).textContent = pressed ? on : off;
  };
  set("toggle-mic", !room.micOn, "Unmute", "Mute");
  set("toggle-camera", !room.cameraOn, "Start camera", "Stop camera");
  set("toggle-screen", !!room.screen, "Stop sharing", "Share screen");
  const states = [];
  if (!room.micOn) states.push("muted");
  if (!room.cameraOn) states.push("camera off");
  $("self-state").textContent = states.length ? ` — ${states.join(", ")}` : "";
}

function replaceVideoEverywhere(track) {
  for (const { link } of room.peers.values()) link.replaceVideo(track);
  room.calls?.replaceVideo(track);
}

async function toggleCamera() {
  let track = room.stream?.getVideoTracks()[0];
  if (!track) {
    try {
      const camera = await navigator.mediaDevices.getUserMedia({
        video: captureConstraints(config.media).video,
      });
      track = camera.getVideoTracks()[0];
      room.stream = room.stream || new MediaStream();
      room.stream.addTrack(track);
      if (!room.screen) replaceVideoEverywhere(track);
      $("self-view").srcObject = room.stream;
      room.cameraOn = false; // flipped on below
    } catch (error) {
      return announce(explainMediaError(error).title);
    }
  }
  room.cameraOn = !room.cameraOn;
  track.enabled = room.cameraOn;
  updateControls();
  sendMediaFlags();
}

function toggleMic() {
  const track = room.stream?.getAudioTracks()[0];
  if (!track) return announce("No microphone is connected.");
  room.micOn = !room.micOn;
  track.enabled = room.micOn;
  updateControls();
  sendMediaFlags();
}

async function toggleScreen() {
  if (room.screen) return stopSharing();
  try {
    const display = await navigator.mediaDevices.getDisplayMedia({ video: true });
    room.screen = display.getVideoTracks()[0];
    room.screen.addEventListener("ended", stopSharing);
    replaceVideoEverywhere(room.screen);
    $("self-view").srcObject = display;
  } catch (error) {
    return announce("Screen sharing was not started.");
  }
  updateControls();
  sendMediaFlags();
}

function stopSharing() {
  room.screen?.stop();
  room.screen = null;
  replaceVideoEverywhere(room.stream?.getVideoTracks()[0] || null);
  $("self-view").srcObject = room.stream;
  updateControls();
  sendMediaFlags();
}

function endCall(reason) {
  if (room.ended) return; // closing our own socket reports back here; keep the first reason
  room.ended = true;
  sessionStorage.removeItem(joinedKey);
  room.socket?.close();
  for (const { link } of room.peers.values()) link.close();
  room.peers.clear();
  room.calls?.close();
  room.stream?.getTracks().forEach((track) => track.stop());
  room.screen?.stop();
  for (const timer of [...room.leavingSessions.values(), ...room.leavingTiles.values()]) {
    clearTimeout(timer);
  }
  for (const userId of [...room.tiles.keys()]) removeTile(userId);
  $("ended-reason").textContent = reason;
  showStage("ended");
  announce(reason);
}

// --- Start ----------------------------------------------------------------------------------

$("join-button").addEventListener("click", join);
$("device-retry").addEventListener("click", startPreview);
$("camera-select").addEventListener("change", startPreview);
$("mic-select").addEventListener("change", startPreview);
for (const id of ["speaker-select", "call-speaker-select"]) {
  $(id).addEventListener("change", (event) => chooseSpeaker(event.target.value));
}
$("speaker-test").addEventListener("click", testSpeaker);
navigator.mediaDevices?.addEventListener("devicechange", refreshDevices);
$("toggle-mic").addEventListener("click", toggleMic);
$("toggle-camera").addEventListener("click", toggleCamera);
$("toggle-screen").addEventListener("click", toggleScreen);
$("leave-button").addEventListener("click", () => endCall("You left the visit."));
$("end-button")?.addEventListener("click", () => {
  if (confirm("End this visit for everyone? The appointment will be marked completed.")) {
    room.socket.send({ type: "end" });
  }
});
if (!("getDisplayMedia" in (navigator.mediaDevices || {}))) $("toggle-screen").hidden = true;

if (config.notesUrl) {
  new NotesEditor({
    form: $("notes-form"),
    status: $("notes-status"),
    reloadButton: $("notes-reload"),
    url: config.notesUrl,
    storageKey: `clinic-meet:note:${config.appointmentId}`,
  });
}

watchConnection(
  () => [...[...room.peers.values()].map((peer) => peer.link.pc), room.calls?.pc],
  (report) => {
    $("connection-text").textContent = describe(report);
    $("connection").dataset.quality = report.quality;
    room.lastReport = report;
  },
);

// Coming back after a reload: straight into the room (a patient keeps their place).
const rejoin = JSON.parse(sessionStorage.getItem(joinedKey) || "null");
await startPreview();
$("join-button").disabled = false; // devices are settled (or their problem is explained)
if (rejoin) {
  $("join-camera-off").checked = rejoin.cameraOff;
  $("join-mic-off").checked = rejoin.micOff;
  join();
} else {
  showStage("precall");
}
