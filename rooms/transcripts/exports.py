"""A visit's transcript as a file: plain text for reading and pasting, WebVTT (W3C WebVTT) for
a player beside the recording. Each segment shows what the doctor corrected it to, if they
did; the original stays in the record (and the JSON)."""

from collections.abc import Iterable

from rooms.transcripts.models import TranscriptSegment

UNKNOWN_SPEAKER = "Speaker"


def segment_said(segment: TranscriptSegment) -> str:
    return (segment.corrected_text or segment.text).strip()


def segment_speaker_label(segment: TranscriptSegment) -> str:
    return segment.speaker_name or UNKNOWN_SPEAKER


def _clock(ms: int, *, hours: bool, separator: str | None) -> str:
    seconds, millis = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    hour, minutes = divmod(minutes, 60)
    stamp = f"{minutes:02d}:{seconds:02d}"
    if hours or hour:
        stamp = f"{hour:02d}:{stamp}"
    return stamp if separator is None else f"{stamp}{separator}{millis:03d}"


def offset_label(ms: int) -> str:
    """[h:]mm:ss into the visit's transcript, as people read a time in it."""
    return _clock(ms, hours=False, separator=None)


def transcript_text(*, title: str, segments: Iterable[TranscriptSegment]) -> str:
    """`[mm:ss] Speaker: what they said`, a line per segment, under the visit's title."""
    lines = [title, ""]
    for segment in segments:
        stamp, speaker = offset_label(segment.start_ms), segment_speaker_label(segment)
        lines.append(f"[{stamp}] {speaker}: {segment_said(segment)}")
    return "\n".join(lines) + "\n"


def _vtt_escape(text: str) -> str:
    # A cue's text may not hold "-->", and &, < are markup (WebVTT's cue text escapes).
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(text.split())  # one line: a blank line would end the cue


def transcript_vtt(*, title: str, segments: Iterable[TranscriptSegment]) -> str:
    """One cue per segment, its speaker as a voice span (<v Speaker>), timed on the visit's
    transcript clock; the cue's identifier is the segment's id."""
    blocks = [f"WEBVTT - {_vtt_escape(title)}"]
    for segment in segments:
        start = _clock(segment.start_ms, hours=True, separator=".")
        end = _clock(max(segment.end_ms, segment.start_ms + 1), hours=True, separator=".")
        voice = _vtt_escape(segment_speaker_label(segment))
        blocks.append(
            f"{segment.pk}\n{start} --> {end}\n<v {voice}>{_vtt_escape(segment_said(segment))}"
        )
    return "\n\n".join(blocks) + "\n"
