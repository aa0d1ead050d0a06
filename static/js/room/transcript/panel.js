// The transcription's consent on the room page, as the recording's with its own toggle: the
// doctor's Transcribe button, the dialog (saying where the audio goes), the "Transcribing"
// indicator for everyone in the call, Stop, Withdraw consent, the notices and announcements
// (capture-panel.js, with the transcription's words from consent-state.js).

import { CapturePanel } from "../capture-panel.js";
import { isEncrypted, transcriptionAnnouncement, transcriptionOf, transcriptionView } from "./consent-state.js";

export class TranscriptionPanel extends CapturePanel {
  constructor({ send, frames }) {
    super({
      send,
      frames: {
        request: frames.TRANSCRIPTION_REQUEST,
        consent: frames.TRANSCRIPTION_CONSENT,
        stop: frames.TRANSCRIPTION_STOP,
      },
      idKey: "transcription_id",
      prefix: "transcription",
      button: "transcribe-button",
      read: transcriptionOf,
      viewOf: (transcription, me, participants, state) =>
        transcriptionView(transcription, me, participants, { e2ee: isEncrypted(state) }),
      announce: transcriptionAnnouncement,
      dialogId: (dialog) => dialog.transcriptionId,
    });
  }

  get transcription() {
    return this.capture;
  }
}
