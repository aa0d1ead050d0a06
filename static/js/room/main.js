// The visit room page: the pre-call check, the waiting room, the call (peer-to-peer or through
// Cloudflare Calls, behind one media transport), the doctor's people panel, chat and notes,
// and what the page tells (status.js). This module only wires them to the room's WebSocket.
// Protocol: docs/protocol.md; the close codes and frame types come with the page's config
// (rooms/protocol.py page_constants). The test hook: test-hook.js, docs/room-page.md.

import { CallStage } from "./call.js";
import { ChatPanel } from "./chat.js";
import { $ } from "./dom.js";
import { E2eePanel } from "./e2ee/panel.js";
import { MediaProtection, e2eeSupport, peerConnectionOptions } from "./e2ee/protection.js";
import { E2eeSession } from "./e2ee/session.js";
import { fetchJson } from "./http.js";
import { NotesEditor } from "./notes.js";
import { PeoplePanel } from "./people.js";
import { PreCall } from "./precall.js";
import { ChunkQueue } from "./recording/chunk-queue.js";
import { RecordingPanel } from "./recording/panel.js";
import { Recorder } from "./recording/recorder.js";
import { Uploader, refusedMessage } from "./recording/uploader.js";
import { endReason } from "./reconnect.js";
import { DraftNotePanel } from "./transcript/draft-note.js";
import { TranscriptionPanel } from "./transcript/panel.js";
import { transcriptSettings } from "./transcript/settings.js";
import { TranscriptPanel } from "./transcript/transcript-panel.js";
import { Transcriber } from "./transcript/transcriber.js";
import { WAITING, othersIn, sentAwayAndGone, visitStarted } from "./roster.js";
import { RoomSocket } from "./socket.js";
import { watchConnection } from "./stats.js";
import { StatusView } from "./status.js";
import { noteDraftKey } from "../session/note-drafts.js";
import { installTestHook } from "./test-hook.js";
import { createTransport } from "./transport.js";
import { enterWaitingRoom, showWaitingFor } from "./waiting.js";

const config = JSON.parse($("room-config").textContent);
const { closeCodes, finalCloseCodes, serverFrames, clientFrames } = config.protocol;
const joinedKey = `clinic-meet:joined:${config.roomId}`;
const transcriptConfig = transcriptSettings(config);
const e2eeSupported = e2eeSupport().supported;

class Room {
  constructor() {
    this.status = new StatusView(config);
    this.precall = new PreCall({ limits: config.media });
    this.socket = null;
    this.call = null; // from joining on
    this.chat = null; // from admission on
    this.people = null; // the doctor's, from joining on
    this.me = null; // `you` of the latest room.state
    this.userId = null;
    this.participants = [];
    this.lastNotice = null;
    this.ended = false;
    this.precall.addEventListener("speaker", ({ detail }) => this.call?.playThrough(detail));
    this.recording = new RecordingPanel({ send: (frame) => this.send(frame), frames: clientFrames });
    this.chunks = null; // the doctor's: recording chunks on their way to the server
    this.uploader = null;
    this.recorder = null;
    this.transcription = new TranscriptionPanel({ send: (frame) => this.send(frame), frames: clientFrames });
    this.transcript = null; // the doctor's: the live transcript and its capture
    this.transcriber = null;
    this.draftNote = null;
    this.prepareEncryption();
    if (config.role === "doctor") {
      this.prepareRecorder();
      this.prepareTranscriber();
    }
  }

  // End-to-end encryption (e2ee/): the media transforms, the MLS group, what the call shows.
  prepareEncryption() {
    this.protection = new MediaProtection({ mode: config.e2ee.mode, workerUrl: config.e2ee.workerUrl });
    this.e2ee = new E2eeSession({
      mode: config.e2ee.mode,
      bundleUrl: config.e2ee.bundleUrl,
      role: config.role,
      send: (frame) => this.send(frame),
      frames: clientFrames,
      kinds: config.protocol.mlsKinds,
      protection: this.protection,
      verifiedKey: `clinic-meet:e2ee-verified:${config.roomId}`,
    });
    this.e2eePanel = new E2eePanel({
      session: this.e2ee,
      protection: this.protection,
      supported: e2eeSupported,
      isDoctor: config.role === "doctor",
      send: (frame) => this.send(frame),
      frames: clientFrames,
      announce: (text) => this.status.announce(text),
    });
  }

  // The doctor's live transcript (transcript/): the panel, shown with what the server kept,
  // and the capture, which sends audio only while the transcription is on.
  prepareTranscriber() {
    this.transcript = new TranscriptPanel({
      urls: { transcript: transcriptConfig.transcriptUrl, segment: transcriptConfig.segmentUrl },
    });
    this.transcript.load();
    this.transcriber = new Transcriber({
      path: transcriptConfig.audioSocketPath,
      sources: () => this.transcriptionSources(),
      onProblem: (text) => this.transcription.problem(text),
    });
    const socket = this.transcriber.socket;
    socket.addEventListener("segment", ({ detail }) => this.transcript.addSegment(detail.segment));
    socket.addEventListener("partial", ({ detail }) => this.transcript.partial(detail));
    socket.addEventListener("notice", ({ detail }) => this.transcript.notice(detail.text));
    const form = $("notes-form");
    if (transcriptConfig.draftNoteUrl && form) {
      this.draftNote = new DraftNotePanel({
        url: transcriptConfig.draftNoteUrl,
        form,
        reveal: (segmentId) => this.transcript.reveal(segmentId),
      });
    }
  }

  // One audio track per speaker, where it is in the clear: our microphone, and each admitted
  // other's audio as received.
  transcriptionSources() {
    if (!this.call) return [];
    const sources = [{ userId: this.userId, track: this.call.local.stream?.getAudioTracks()[0] || null }];
    for (const other of othersIn(this.participants, this.userId)) {
      const track = this.call.transport?.mediaOf(other.user_id)?.getAudioTracks()[0] || null;
      sources.push({ userId: other.user_id, track });
    }
    return sources.filter((source) => source.userId !== null);
  }

  // The doctor's page records (recording/recorder.js). Whatever an earlier page of this
  // browser left unsent (a reload mid-recording) goes up first.
  prepareRecorder() {
    this.chunks = ChunkQueue.forBrowser();
    this.uploader = new Uploader(this.chunks);
    this.uploader.addEventListener("refused", ({ detail }) => this.recording.problem(refusedMessage(detail)));
    this.recorder = new Recorder({
      queue: this.chunks,
      uploaded: () => this.uploader.kick(),
      sources: () => this.recordingSources(),
      onProblem: (text) => this.recording.problem(text),
    });
    this.chunks.ready.then(() => this.uploader.kick()).catch((error) => console.warn("chunk queue", error));
    addEventListener("online", () => this.uploader.wake());
  }

  recordingSources() {
    const mine = this.participants.find((p) => p.user_id === this.userId);
    if (!this.call) return { tiles: [], audio: [] };
    return this.call.recordingSources(othersIn(this.participants, this.userId), mine?.display_name || "");
  }

  send(frame) {
    return this.socket?.send(frame) ?? false;
  }

  async join() {
    $("join-button").disabled = true;
    // From here until the page leaves the visit (the waiting room too) the page keeps the
    // portal session alive: the automatic logoff never ends a visit (static/js/session/).
    document.body.dataset.inVisit = "true";
    const local = this.precall.finish();
    sessionStorage.setItem(
      joinedKey,
      JSON.stringify({ cameraOff: !local.cameraOn, micOff: !local.micOn }),
    );
    const answer = await fetchJson(config.iceServersUrl).catch(() => null);
    const iceServers = answer?.ok ? answer.data.iceServers : [];
    this.call = new CallStage({
      limits: config.media,
      local,
      speakerId: this.precall.speakerId,
      sendMediaFlags: (flags) => this.send({ type: clientFrames.MEDIA, ...flags }),
      announce: (text) => this.status.announce(text),
    });
    this.transportContext = {
      iceServers,
      limits: config.media,
      local: this.call.local,
      send: (frame) => this.send(frame),
      frames: clientFrames,
      polite: config.role === "patient",
      myUserId: () => this.userId,
      protection: this.protection,
      pcOptions: peerConnectionOptions(config.e2ee.mode),
    };
    this.call.useTransport(createTransport(config, this.transportContext));
    if (config.role === "doctor") {
      this.people = new PeoplePanel({
        frames: clientFrames,
        act: (frame) => this.send(frame),
        announce: (text) => this.status.announce(text),
        speakerId: () => this.precall.speakerId,
      });
    }
    enterWaitingRoom(local.stream);
    this.status.showStage(config.role === "patient" ? "waiting" : "call");
    this.socket = new RoomSocket(config.socketPath, {
      finalCloseCodes,
      pingFrame: { type: clientFrames.PING },
    });
    this.socket.addEventListener("frame", (event) => this.onFrame(event.detail));
    this.socket.addEventListener("reconnecting", () => {
      this.chat?.connectionLost();
      this.status.announce("Connection lost; reconnecting…");
    });
    this.socket.addEventListener("open", () => this.status.announce("Connected."));
    this.socket.addEventListener("closed", (event) => this.onClosed(event.detail.code));
    this.socket.connect();
  }

  onFrame(frame) {
    switch (frame.type) {
      case serverFrames.STATE:
        return this.onState(frame);
      case serverFrames.SIGNAL:
        return this.onSignal(frame);
      case serverFrames.CHAT:
        return this.chat?.show(frame);
      case serverFrames.ERROR:
        // An error naming a chat message of ours: that message shows "Not sent" with a Retry.
        if (frame.client_id) this.chat?.notSent(frame.client_id);
        this.status.announce(frame.message);
        return console.warn("room error", frame.code, frame.message);
      case serverFrames.DENIED:
      case serverFrames.REMOVED:
      case serverFrames.CLOSED:
        this.lastNotice = frame.message;
        return;
      case serverFrames.MLS:
        return this.e2ee.receive(frame);
      case serverFrames.DRAFT_NOTE:
        return this.draftNote?.received(frame.draft_note);
      case serverFrames.ENDED:
        this.lastNotice = "The doctor ended the visit.";
        this.status.showVisitStatus("completed");
        return;
    }
  }

  onState(state) {
    // Each connection is a fresh room entry: tell it our media state once.
    const newEntry = this.me?.participant_id !== state.you.participant_id;
    const previous = this.participants;
    this.me = state.you;
    this.participants = state.participants;
    const mine = state.participants.find((p) => p.participant_id === state.you.participant_id);
    if (mine) this.userId = mine.user_id;
    // Before the call's sync: the transforms must be on before any transceiver carries media.
    const displayName = mine?.display_name || config.displayName;
    if (this.e2ee.follow(state, { userId: this.userId, displayName })) this.restartMedia();
    this.e2eePanel.render();
    if (newEntry) {
      this.send({ type: clientFrames.MEDIA, ...this.call.flags() });
      this.call.transport.entered();
    }
    if (state.you.status === WAITING) {
      this.status.showStage("waiting");
      showWaitingFor(state.participants);
      return;
    }
    this.status.showStage("call");
    if (visitStarted(state.participants)) this.status.showVisitStatus("in_progress");
    if (!this.chat) {
      this.chat = new ChatPanel({
        log: $("chat-log"),
        form: $("chat-form"),
        input: $("chat-input"),
        send: (frame) => this.send(frame),
        chatFrame: clientFrames.CHAT,
        myUserId: this.userId,
      });
    }
    for (const message of state.chat || []) this.chat.show(message);
    this.people?.render(state.participants);
    const recording = this.recording.update(state, { userId: this.userId, role: config.role }, state.participants);
    this.recorder?.follow(recording, recording.ours);
    const transcription = this.transcription.update(state, { userId: this.userId, role: config.role }, state.participants);
    if (transcription.state !== "off") this.transcript?.show();
    this.call.sync(othersIn(state.participants, this.userId));
    this.transcriber?.follow(transcription); // after the call's sync: the speakers' tracks
    // Someone the doctor removed (or turned away) is no longer listed: the server has sent
    // them out, so they are not reconnecting. Their media goes at once, without the grace.
    for (const { pid, entry } of sentAwayAndGone(this.people?.sentAway || [], previous, state.participants)) {
      this.people.sentAway.delete(pid);
      if (entry) this.call.forget(entry);
    }
  }

  // Encryption came on mid-call: the media starts over on new connections made with the
  // transforms (a moment's freeze), so that none of it passes in the clear from now on.
  restartMedia() {
    const old = this.call.transport;
    this.call.useTransport(createTransport(config, this.transportContext));
    old.close();
  }

  onSignal({ from, data }) {
    const sender = this.participants.find((p) => p.participant_id === from);
    if (!sender) return console.warn("signal from an unknown participant", from);
    return this.call.transport.signal(sender, data);
  }

  onClosed(code) {
    this.end(endReason(code, this.lastNotice, closeCodes));
  }

  end(reason) {
    if (this.ended) return; // closing our own socket reports back here; keep the first reason
    this.ended = true;
    delete document.body.dataset.inVisit;
    sessionStorage.removeItem(joinedKey);
    this.recorder?.stop(); // its last chunk still goes up while this page stays open
    this.transcriber?.stop({ drop: true });
    this.socket?.close();
    this.call?.hangUp();
    this.e2ee.close();
    this.protection.close();
    this.status.showEnded(reason);
  }

  endForEveryone() {
    if (confirm("End this visit for everyone? The appointment will be marked completed.")) {
      this.send({ type: clientFrames.END });
    }
  }
}

const room = new Room();
installTestHook(room, { mode: config.callsUrl ? "calls" : "p2p" });

$("join-button").addEventListener("click", () => room.join());
$("leave-button").addEventListener("click", () => room.end("You left the visit."));
$("end-button")?.addEventListener("click", () => room.endForEveryone());

if (config.notesUrl) {
  new NotesEditor({
    form: $("notes-form"),
    status: $("notes-status"),
    reloadButton: $("notes-reload"),
    url: config.notesUrl,
    storageKey: noteDraftKey(config.appointmentId),
    signing: { button: $("notes-sign"), signature: $("note-signature-slot"), url: config.noteSignUrl },
    addenda: {
      form: $("addendum-form"),
      list: $("note-addenda"),
      heading: $("addenda-heading"),
      status: $("addendum-status"),
      url: config.noteAddendaUrl,
    },
  });
}

watchConnection(
  () => room.call?.transport.receivingConnections() || [],
  (report) => room.status.showConnection(report),
);

// Coming back after a reload: straight into the room (a patient keeps their place).
const rejoin = JSON.parse(sessionStorage.getItem(joinedKey) || "null");
await room.precall.startPreview();
if (config.e2ee.mode === "required" && !e2eeSupported) {
  // No call may start unencrypted: this browser cannot join this visit at all.
  $("e2ee-unsupported").hidden = false;
  room.status.showStage("precall");
} else if (rejoin) {
  $("join-button").disabled = false; // devices are settled (or their problem is explained)
  $("join-camera-off").checked = rejoin.cameraOff;
  $("join-mic-off").checked = rejoin.micOff;
  room.join();
} else {
  $("join-button").disabled = false;
  room.status.showStage("precall");
}
