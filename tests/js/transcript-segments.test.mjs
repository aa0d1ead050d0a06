// The live transcript's list (static/js/room/transcript/segments.js) and where its parts live
// (settings.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { atEnd, formatOffset, shownText, speakerName, withSegment } from "../../static/js/room/transcript/segments.js";
import { transcriptSettings } from "../../static/js/room/transcript/settings.js";

const segment = (id, start_ms, extra = {}) => ({ id, start_ms, end_ms: start_ms + 1000, text: `s${id}`, corrected_text: "", speaker: null, ...extra });

test("times read mm:ss from the transcription's start, h:mm:ss past an hour", () => {
  assert.equal(formatOffset(0), "00:00");
  assert.equal(formatOffset(61230), "01:01");
  assert.equal(formatOffset(3723000), "1:02:03");
});

test("segments are listed once each, in time order, whichever way they came", () => {
  let list = [];
  list = withSegment(list, segment(3, 5000));
  list = withSegment(list, segment(1, 1000));
  list = withSegment(list, segment(2, 5000));
  list = withSegment(list, segment(3, 5000, { corrected_text: "fixed" })); // the same again
  assert.deepEqual(list.map((s) => s.id), [1, 2, 3]);
  assert.equal(shownText(list[2]), "fixed");
});

test("the correction is shown where there is one, the original otherwise; a recording's speaker is “Speaker”", () => {
  assert.equal(shownText(segment(1, 0, { text: "fever", corrected_text: "" })), "fever");
  assert.equal(shownText(segment(1, 0, { text: "fever", corrected_text: "no fever" })), "no fever");
  assert.equal(speakerName(segment(1, 0)), "Speaker");
  assert.equal(speakerName(segment(1, 0, { speaker: { user_id: 2, display_name: "Hanako Suzuki", role: "patient" } })), "Hanako Suzuki");
});

test("the list follows new segments only while it is scrolled to its end", () => {
  assert.equal(atEnd({ scrollTop: 600, scrollHeight: 1000, clientHeight: 400 }), true);
  assert.equal(atEnd({ scrollTop: 590, scrollHeight: 1000, clientHeight: 400 }), true); // within a line
  assert.equal(atEnd({ scrollTop: 200, scrollHeight: 1000, clientHeight: 400 }), false); // scrolled up
});

test("the page config's transcript addresses are used when given; the documented ones otherwise; no LLM, no draft note", () => {
  const fallback = transcriptSettings({ appointmentId: 7, roomId: "ab12" });
  assert.equal(fallback.transcriptUrl, "/api/appointments/7/transcript/");
  assert.equal(fallback.segmentUrl(5), "/api/transcript-segments/5/");
  assert.equal(fallback.audioSocketPath, "/ws/rooms/ab12/audio/");
  assert.equal(fallback.draftNoteUrl, null);
  const given = transcriptSettings({
    appointmentId: 7,
    roomId: "ab12",
    transcript: { url: "/t/", segmentUrl: "/seg/{id}/x/", draftNoteUrl: "/api/appointments/7/draft-note/" },
  });
  assert.equal(given.transcriptUrl, "/t/");
  assert.equal(given.segmentUrl(9), "/seg/9/x/");
  assert.equal(given.draftNoteUrl, "/api/appointments/7/draft-note/");
  assert.equal(transcriptSettings({ transcript: { draftNoteUrl: null } }).draftNoteUrl, null);
});
