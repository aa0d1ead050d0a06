"""Storing what the engine heard: one segment per finished turn of one speaker."""

from rooms.transcripts.models import Transcription, TranscriptSegment
from visits.models import User


def segment_store(
    *,
    transcription: Transcription,
    speaker: User | None,
    speaker_role: str,
    speaker_name: str,
    start_ms: int,
    end_ms: int,
    text: str,
    engine: str,
) -> TranscriptSegment:
    return TranscriptSegment.objects.create(
        transcription=transcription,
        appointment_id=transcription.appointment_id,
        speaker=speaker,
        speaker_role=speaker_role,
        speaker_name=speaker_name[:200],
        start_ms=max(0, start_ms),
        end_ms=max(start_ms, end_ms, 0),
        text=text,
        engine=engine,
    )


def segment_frame(segment: TranscriptSegment) -> dict:
    """A segment as the API and the audio socket show it (docs/protocol.md)."""
    speaker = None
    if segment.speaker_id is not None:
        speaker = {
            "user_id": segment.speaker_id,
            "role": segment.speaker_role,
            "display_name": segment.speaker_name,
        }
    return {
        "id": segment.pk,
        "speaker": speaker,
        "start_ms": segment.start_ms,
        "end_ms": segment.end_ms,
        "text": segment.text,
        "corrected_text": segment.corrected_text,
        "engine": segment.engine,
    }
