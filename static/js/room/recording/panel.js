// The recording's consent on the room page: the doctor's Record button, the dialog, the
// "● Recording 00:12" indicator, Stop, Withdraw consent, the notices and announcements
// (capture-panel.js, with the recording's words from consent-state.js).

import { CapturePanel } from "../capture-panel.js";
import { isEncrypted } from "../transcript/consent-state.js";
import { announcement, recordingOf, recordingView } from "./consent-state.js";

// What leaves the encrypted call when it is recorded: said in the dialog (docs/e2ee.md).
export const ENCRYPTED_RECORDING =
  "This call is end-to-end encrypted, but a recording is not: it is made in the doctor's browser, " +
  "where the call is in the clear, and goes to the clinic's server, which keeps it encrypted with " +
  "this visit in your medical record.";

export class RecordingPanel extends CapturePanel {
  // `send(frame)` -> whether it went; `frames`: the client frame types.
  constructor({ send, frames }) {
    super({
      send,
      frames: { request: frames.RECORDING_REQUEST, consent: frames.RECORDING_CONSENT, stop: frames.RECORDING_STOP },
      idKey: "recording_id",
      prefix: "recording",
      button: "record-button",
      read: recordingOf,
      viewOf: (recording, me, participants, state) => {
        const view = recordingView(recording, me, participants);
        if (view.dialog && isEncrypted(state)) view.dialog = { ...view.dialog, detail: ENCRYPTED_RECORDING };
        return view;
      },
      announce: announcement,
      dialogId: (dialog) => dialog.recordingId,
    });
  }

  get recording() {
    return this.capture;
  }
}
