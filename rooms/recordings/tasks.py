"""The recordings' background work, run by the worker (`manage.py recordings_worker`), never in
a request: finalising a stopped recording, stopping idle ones, expiring old ones.

Interface for the rest of the app: schedule_finalise(recording_id, delay_seconds).
"""

from datetime import timedelta

from django.utils import timezone
from django_tasks import task


@task()
def finalise_recording(recording_id: str) -> None:
    """Join the recording's chunks into one encrypted, seekable file (rooms.recordings.finalise)."""
    from rooms.recordings.finalise import recording_finalise

    recording_finalise(recording_id=recording_id)


def schedule_finalise(recording_id, *, delay_seconds: float = 0) -> None:
    """Finalise the recording in the worker, after `delay_seconds` (the upload grace)."""
    run_after = timezone.now() + timedelta(seconds=delay_seconds) if delay_seconds else None
    finalise_recording.using(run_after=run_after).enqueue(str(recording_id))
