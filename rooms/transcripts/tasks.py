"""The transcripts' background work, run by the recordings' worker (`manage.py
recordings_worker`, django-tasks-db's db_worker on the default queue), never in a request:
transcribing a recording after the visit, drafting a note from the transcript.

Interface for the rest of the app: schedule_recording_transcription(transcription_id),
write_draft_note.enqueue(draft_note_id).
"""

from django_tasks import task


@task()
def transcribe_recording(transcription_id: int) -> None:
    """Transcribe a recording with the configured engine (rooms.transcripts.services.recording)."""
    from rooms.transcripts.services.recording import recording_transcribe

    recording_transcribe(transcription_id=transcription_id)


def schedule_recording_transcription(transcription_id: int) -> None:
    """Transcribe the recording of that (processing) transcription in the worker."""
    transcribe_recording.enqueue(transcription_id)


@task()
def write_draft_note(draft_note_id: int) -> None:
    """The visit's draft note from the language model (rooms.transcripts.services.draft_notes)."""
    from rooms.transcripts.services.draft_notes import draft_note_write

    draft_note_write(draft_note_id=draft_note_id)
