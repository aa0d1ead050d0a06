"""The recordings' background work, run by the worker (`manage.py recordings_worker`), never in
a request: finalising a stopped recording, stopping idle ones, expiring old ones.

Interface for the rest of the app: schedule_finalise(recording_id, delay_seconds).

The two periodic tasks (the sweep, every SWEEP_INTERVAL_SECONDS, and the daily expiry)
reschedule themselves: each run enqueues the next, and the worker's start makes sure one of
each is pending (`periodic_tasks_ensure`), so there is exactly one pending of each however many
workers start or restart.
"""

from datetime import timedelta

from django.db import connection
from django.utils import timezone
from django_tasks import TaskResultStatus, task

SWEEP_INTERVAL_SECONDS = 30
EXPIRY_INTERVAL_SECONDS = 24 * 60 * 60


@task()
def finalise_recording(recording_id: str) -> None:
    """Join the recording's chunks into one encrypted, seekable file (rooms.recordings.finalise)."""
    from rooms.recordings.finalise import recording_finalise

    recording_finalise(recording_id=recording_id)


def schedule_finalise(recording_id, *, delay_seconds: float = 0) -> None:
    """Finalise the recording in the worker, after `delay_seconds` (the upload grace)."""
    run_after = timezone.now() + timedelta(seconds=delay_seconds) if delay_seconds else None
    finalise_recording.using(run_after=run_after).enqueue(str(recording_id))


@task()
def sweep_recordings() -> None:
    """Stop recordings nothing arrives for; finalise stopped ones whose task was lost."""
    from rooms.recordings.services.lifecycle import recordings_sweep

    try:
        recordings_sweep(now=timezone.now())
    finally:
        _enqueue_next(sweep_recordings, SWEEP_INTERVAL_SECONDS)


@task()
def expire_recordings() -> None:
    """Delete the recordings whose retention ran out (rooms.recordings.services.deletion)."""
    from rooms.recordings.services.deletion import recordings_expire

    try:
        recordings_expire(now=timezone.now())
    finally:
        _enqueue_next(expire_recordings, EXPIRY_INTERVAL_SECONDS)


PERIODIC_TASKS = (sweep_recordings, expire_recordings)


def periodic_tasks_ensure() -> list[str]:
    """Enqueue each periodic task that has no run pending, to run now; returns their names."""
    return [
        periodic.name
        for periodic in PERIODIC_TASKS
        if _enqueue_unless_pending(periodic, run_after=None)
    ]


def _enqueue_next(periodic, delay_seconds: float) -> None:
    _enqueue_unless_pending(periodic, run_after=timezone.now() + timedelta(seconds=delay_seconds))


def _enqueue_unless_pending(periodic, *, run_after) -> bool:
    from django_tasks_db.models import DBTaskResult
    from django_tasks_db.utils import exclusive_transaction

    # One check-then-enqueue at a time across processes: SQLite's exclusive transaction, or a
    # PostgreSQL advisory lock (the task queue's table has no row to lock before the insert).
    with exclusive_transaction():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [periodic.module_path])
        pending = DBTaskResult.objects.filter(
            task_path=periodic.module_path, status=TaskResultStatus.READY
        )
        if pending.exists():
            return False
        periodic.using(run_after=run_after).enqueue()
        return True
