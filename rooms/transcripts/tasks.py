"""The transcripts' background work, run by the worker (`manage.py recordings_worker`), never in
a request."""

from django_tasks import task


@task()
def write_draft_note(draft_note_id: int) -> None:
    """The visit's draft note from the language model (rooms.transcripts.services.draft_notes)."""
    from rooms.transcripts.services.draft_notes import draft_note_write

    draft_note_write(draft_note_id=draft_note_id)
