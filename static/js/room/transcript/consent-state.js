// Reading a room.state's `transcription` object (docs/protocol.md, "Transcription"): the same
// shape and consent rule as the recording, read by recording/consent-state.js with the
// transcription's words. Adds what only the transcription says: where the audio goes (and,
// with end-to-end encryption on, that it leaves the encrypted call), and whether this page
// sends audio. Pure: no DOM.

import { announcement, captureOf, recordingView } from "../recording/consent-state.js";

export { ON, OFF, PAUSED, PENDING, elapsedSeconds, formatElapsed } from "../recording/consent-state.js";

export const TRANSCRIPTION_WORDS = Object.freeze({
  noun: "Transcription",
  active: "Transcribing",
  verb: "transcribe",
  asks: (doctor) => `${doctor} would like this visit transcribed: a written record of what is said, kept with your visit.`,
});

// What the dialog adds under the question: where the audio goes.
export function audioDestination({ e2ee = false } = {}) {
  const where =
    "Your voice is sent as audio to the clinic's transcription service, which writes down what is said; " +
    "the transcript is kept with this visit in your medical record.";
  return e2ee
    ? `This call is end-to-end encrypted, but transcription is not: the audio leaves the encrypted call ` +
        `for the clinic's transcription service. ${where}`
    : where;
}

export function transcriptionOf(state) {
  return captureOf(state, "transcription");
}

// Whether a room.state says the call is end-to-end encrypted (a later issue adds the flag;
// absent means no).
export function isEncrypted(state) {
  return state?.e2ee?.on === true; // room.state's e2ee object (docs/protocol.md)
}

// What one page shows for the transcription (transcriptionOf), as recordingView does for the
// recording, plus `sendsAudio`: this is the doctor's page and it is on. Unlike a recording, any
// doctor of the visit captures (the audio socket takes only the visit's doctor), not only the
// one who asked.
export function transcriptionView(transcription, me, participants = [], { e2ee = false } = {}) {
  const view = recordingView(transcription, me, participants, TRANSCRIPTION_WORDS);
  return {
    ...view,
    dialog: view.dialog && { transcriptionId: view.dialog.recordingId, text: view.dialog.text, detail: audioDestination({ e2ee }) },
    sendsAudio: me.role === "doctor" && transcription.state === "on",
    // The live transcript is the doctor's alone during the visit.
    showsTranscript: me.role === "doctor",
  };
}

export function transcriptionAnnouncement(previous, current, me) {
  return announcement(previous, current, me, TRANSCRIPTION_WORDS);
}
