// The recording's consent on the room page: the doctor's Record button, the dialog, the
// "● Recording 00:12" indicator, Stop, Withdraw consent, the notices and announcements
// (capture-panel.js, with the recording's words from consent-state.js).

import { CapturePanel } from "../capture-panel.js";
import { announcement, recordingOf, recordingView } from "./consent-state.js";

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
      viewOf: (recording, me, participants) => recordingView(recording, me, participants),
      announce: announcement,
      dialogId: (dialog) => dialog.recordingId,
    });
  }

  get recording() {
    return this.capture;
  }
}
