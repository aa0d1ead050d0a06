// window.clinicMeetTestHook: what the end-to-end tests (tests/e2e) and support may read of a
// room page, instead of its internals. Everything is a read-only getter returning copies,
// except dropSocket(), which stands for a dropped network. Documented in docs/room-page.md;
// keep the two in step, and add to it rather than reaching into the page.
//
//   mode              "p2p" or "calls": the media transport of this page
//   socketOpen        the room's WebSocket is open
//   status            our status in the room: "waiting", "admitted", or null before the first
//                     room.state
//   participantId     our room entry (a new one after each reconnect), or null
//   participants      the participants of the latest room.state (a copy)
//   remoteCount       how many other participants' media the transport holds (peer links, or
//                     pulled Calls sessions)
//   connections()     every RTCPeerConnection of the transport, as {pc, iceRestarts, trace}
//   testSoundSinkId   the output the last speaker test played through, or null
//   recording         the latest room.state's recording object (a copy), with what the page
//                     shows: `indicator` (its text, or null), `elapsed` (seconds), `dialogOpen`
//   recorder          the doctor's capture: {recordingId, state (the MediaRecorder's, or
//                     "stopping" until a stopped one's last chunk is queued), chunks
//                     made, composite frames drawn}, or null on a page that never records
//   uploads           the doctor's chunk uploads: {queued (chunks held on this device, not yet
//                     acknowledged), statuses ({HTTP status or "none": answers}), refused
//                     ([{recordingId, seq, status, detail}])}, or null
//   transcription     the latest room.state's transcription object (a copy), with `indicator`
//                     (its text or null), `dialogOpen`, `dialogText`
//   transcriber       the doctor's audio capture and socket: {transcriptionId, capturing (user
//                     ids), open, socketsOpened, framesSent, bytesSent, refusedFrames, streams
//                     [{userId, stream, opened, queuedMs, lostMs}], notice}, or null
//   transcript        the doctor's live transcript: {segments [{id, speaker, start_ms, text}],
//                     partials [{userId, text}], notice}, or null
//   draftNote         the doctor's draft note as shown ({status, sections, model, failure}), or null
//   e2ee              end-to-end encryption as the page shows it: {mode, on, supported, state
//                     ("off", "unsupported", "joining", "encrypted", "failed"), text, encrypted,
//                     safetyNumber, changed, verified, epoch, members [{leafIndex, userId, role,
//                     name}], failure, mlsFailures, decryptFailures, streams [{id, direction,
//                     kind, protected, stats}] (the worker's counts), errors}
//   dropSocket()      closes the WebSocket as a network drop would: the page reconnects

export function installTestHook(room, { mode }) {
  const hook = {
    get mode() {
      return mode;
    },
    get socketOpen() {
      return !!room.socket?.isOpen;
    },
    get status() {
      return room.me?.status ?? null;
    },
    get participantId() {
      return room.me?.participant_id ?? null;
    },
    get participants() {
      return structuredClone(room.participants);
    },
    get remoteCount() {
      return room.call?.transport.remoteCount ?? 0;
    },
    connections() {
      return room.call?.transport.connections() ?? [];
    },
    get testSoundSinkId() {
      return room.precall.testSound?.sinkId ?? null;
    },
    get recording() {
      return room.recording.status;
    },
    get recorder() {
      return room.recorder ? { ...room.recorder.status } : null;
    },
    get uploads() {
      if (!room.uploader) return null;
      return {
        queued: room.chunks.length,
        statuses: { ...room.uploader.statuses },
        refused: structuredClone(room.uploader.refused),
      };
    },
    get transcription() {
      return room.transcription.status;
    },
    get transcriber() {
      return room.transcriber ? structuredClone(room.transcriber.status) : null;
    },
    get transcript() {
      return room.transcript ? structuredClone(room.transcript.status) : null;
    },
    get draftNote() {
      return room.draftNote ? room.draftNote.status : null;
    },
    get e2ee() {
      return room.e2eePanel.status;
    },
    dropSocket() {
      room.socket?.drop();
    },
  };
  Object.defineProperty(window, "clinicMeetTestHook", { value: Object.freeze(hook) });
}
