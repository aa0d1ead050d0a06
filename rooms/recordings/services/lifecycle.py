"""A recording's end: stopping it (from the room, the sweep or a decline) and handing it to the
worker to finalise."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from rooms.recordings.models import Recording, RecordingChunk
from rooms.recordings.tasks import schedule_finalise
from rooms.selectors import room_group
from rooms.state import get_room_state_store
from visits.models import User

logger = logging.getLogger(__name__)


def recording_stop(
    *, recording_id, reason: Recording.StopReason, stopped_by: User | None
) -> Recording:
    """Stop a recording; a no-op on one already stopped (or never started).

    A pending recording (nobody had allowed yet) becomes declined whatever the reason: nothing
    was recorded. A running one ends now, its time on is summed, and finalising is enqueued:
    at once when the recorder's last chunk and all before it are stored, otherwise after the
    upload grace, for chunks still on their way from the doctor's browser.
    """
    with transaction.atomic():
        recording = Recording.objects.select_for_update().get(pk=recording_id)
        now = timezone.now()
        if recording.status == Recording.Status.PENDING:
            recording.status = Recording.Status.DECLINED
            recording.ended_at = now
            recording.stop_reason = reason
            recording.stopped_by = stopped_by
            recording.save(update_fields=["status", "ended_at", "stop_reason", "stopped_by"])
            return recording
        if recording.status != Recording.Status.RECORDING or recording.ended_at is not None:
            return recording
        if recording.resumed_at is not None:
            recording.seconds_on_before += (now - recording.resumed_at).total_seconds()
        recording.resumed_at = None
        recording.ended_at = now
        recording.stop_reason = reason
        recording.stopped_by = stopped_by
        recording.save(
            update_fields=[
                "seconds_on_before",
                "resumed_at",
                "ended_at",
                "stop_reason",
                "stopped_by",
            ]
        )
        # Enqueued in the same transaction (the task queue is in this database): a stop that
        # commits always has its finalise, and a rolled-back one has none.
        if _all_chunks_stored(recording):
            schedule_finalise(recording.id)
        else:
            schedule_finalise(recording.id, delay_seconds=settings.RECORDING_UPLOAD_GRACE_SECONDS)
        return recording


def _tell_room(recording: Recording) -> None:
    """Have the room's sockets send everyone a fresh room.state (its recording is off now): a
    stop from outside the room (the worker) is otherwise seen only at the room's next change."""
    room = Recording.objects.values_list("appointment__room_id", flat=True).get(pk=recording.pk)
    try:
        # Counted as rooms.services.broadcast_changed counts it: a socket that misses the event
        # sees the room's version move and reads the room.
        async_to_sync(get_room_state_store().bump_version)(room.hex)
        send = async_to_sync(get_channel_layer().group_send)
        send(room_group(room.hex), {"type": "room.changed"})
    except Exception as error:  # the stop stands; pages catch up at the room's next change
        logger.warning("could not tell room %s of a recording stop (%r)", room.hex, error)


def _all_chunks_stored(recording: Recording) -> bool:
    """Whether the recorder's last chunk and every one before it are stored."""
    if recording.last_seq is None:
        return False
    stored = RecordingChunk.objects.filter(recording=recording, seq__lte=recording.last_seq)
    return stored.count() == recording.last_seq + 1


@dataclass(frozen=True)
class SweepResult:
    stopped: list  # ids of the recordings stopped as idle
    finalised: list  # ids of the stopped ones finalised here (their own task had not run)


def recordings_sweep(*, now: datetime) -> SweepResult:
    """The worker's periodic look at live recordings (rooms.recordings.tasks.sweep_recordings).

    A recording that is on but has had no chunk for RECORDING_IDLE_SECONDS (counted from its
    last chunk, or from when it was last resumed if later) lost its recorder: the doctor's
    browser closed or crashed without the room noticing. It is stopped as idle. A paused one
    is not: nothing is uploaded while paused, and the room stops it if the doctor leaves.
    A stopped recording still not finalised past the upload grace is finalised here: its
    scheduled task was lost (finalising twice is harmless, the first claims it).
    """
    # Here, not at the top: the room's server imports recording_stop, and has no use for PyAV.
    from rooms.recordings.finalise import recording_finalise

    idle_since = now - timedelta(seconds=settings.RECORDING_IDLE_SECONDS)
    idle_ids = list(
        Recording.objects.filter(
            status=Recording.Status.RECORDING, ended_at__isnull=True, resumed_at__isnull=False
        )
        .annotate(heard_at=Greatest(Coalesce("last_chunk_at", "resumed_at"), "resumed_at"))
        .filter(heard_at__lt=idle_since)
        .values_list("pk", flat=True)
    )
    for recording_id in idle_ids:
        stopped = recording_stop(
            recording_id=recording_id, reason=Recording.StopReason.IDLE, stopped_by=None
        )
        _tell_room(stopped)
    grace_ended = now - timedelta(seconds=settings.RECORDING_UPLOAD_GRACE_SECONDS)
    overdue_ids = list(
        Recording.objects.filter(
            status=Recording.Status.RECORDING, ended_at__lt=grace_ended
        ).values_list("pk", flat=True)
    )
    for recording_id in overdue_ids:
        recording_finalise(recording_id=recording_id)
    return SweepResult(stopped=idle_ids, finalised=overdue_ids)
