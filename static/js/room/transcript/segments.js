// The live transcript's segments as the doctor's sidebar lists them (transcript-panel.js):
// in time order, each once (a segment may come both from the transcript API on load and from
// the audio socket), with its time and the text to show. Pure: no DOM.

// A segment's start, from the transcription's start: "01:02", "1:02:03" past an hour.
export function formatOffset(ms) {
  const whole = Math.max(0, Math.floor((ms || 0) / 1000));
  const two = (n) => String(n).padStart(2, "0");
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  return hours ? `${hours}:${two(minutes)}:${two(whole % 60)}` : `${two(minutes)}:${two(whole % 60)}`;
}

// The doctor's correction where there is one; the original is never changed.
export function shownText(segment) {
  return segment.corrected_text ? segment.corrected_text : segment.text;
}

export function speakerName(segment) {
  return segment.speaker?.display_name || "Speaker";
}

// `segments` with `segment` added or replaced (same id), ordered by start then id.
export function withSegment(segments, segment) {
  const others = segments.filter((s) => s.id !== segment.id);
  others.push(segment);
  return others.sort((a, b) => a.start_ms - b.start_ms || a.id - b.id);
}

// Whether a list scrolled to `scrollTop` is at its end (within a line): new segments then
// scroll it on; a doctor who scrolled up to read keeps their place.
export function atEnd({ scrollTop, scrollHeight, clientHeight }, slack = 24) {
  return scrollHeight - (scrollTop + clientHeight) <= slack;
}
