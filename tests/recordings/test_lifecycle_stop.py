"""recording_stop: a pending recording is declined; a running one ends with its time on summed
and its finalise enqueued (at once when every chunk is in, after the upload grace otherwise)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max

from rooms.recordings.models import Recording
from rooms.recordings.services.lifecycle import recording_stop
from tests.recordings.recording_kit import add_chunk_rows, make_recording

pytestmark = pytest.mark.django_db

FINALISE_TASK = "rooms.recordings.tasks.finalise_recording"


def finalise_tasks(recording):
    return [
        task
        for task in DBTaskResult.objects.filter(task_path=FINALISE_TASK)
        if task.args_kwargs["args"] == [str(recording.id)]
    ]


def test_a_pending_recording_is_declined_and_nothing_is_finalised():
    recording = make_recording(status=Recording.Status.PENDING)
    patient = recording.appointment.patient.user

    stopped = recording_stop(
        recording_id=recording.id, reason=Recording.StopReason.DECLINED, stopped_by=patient
    )

    stopped.refresh_from_db()
    assert stopped.status == Recording.Status.DECLINED
    assert stopped.stop_reason == Recording.StopReason.DECLINED
    assert stopped.stopped_by == patient
    assert stopped.ended_at is not None
    assert stopped.seconds_on_before == 0
    assert finalise_tasks(recording) == []


def test_a_pending_recording_stopped_for_another_reason_is_declined_too_keeping_the_reason():
    recording = make_recording(status=Recording.Status.PENDING)

    stopped = recording_stop(
        recording_id=recording.id, reason=Recording.StopReason.LEFT, stopped_by=None
    )

    assert stopped.status == Recording.Status.DECLINED
    assert stopped.stop_reason == Recording.StopReason.LEFT
    assert finalise_tasks(recording) == []


def test_a_running_recording_ends_with_its_time_on_summed():
    recording = make_recording(on_for=5, seconds_on_before=3)
    doctor = recording.requested_by

    before = timezone.now()
    stopped = recording_stop(
        recording_id=recording.id, reason=Recording.StopReason.STOPPED, stopped_by=doctor
    )

    stopped.refresh_from_db()
    assert stopped.status == Recording.Status.RECORDING  # until the worker takes it
    assert stopped.ended_at >= before
    assert stopped.resumed_at is None
    assert stopped.seconds_on_before == pytest.approx(8, abs=0.5)
    assert stopped.stop_reason == Recording.StopReason.STOPPED
    assert stopped.stopped_by == doctor


def test_a_paused_recording_ends_with_only_the_time_it_was_on():
    recording = make_recording(on_for=60, seconds_on_before=12)
    recording.resumed_at = None
    recording.save()

    stopped = recording_stop(
        recording_id=recording.id, reason=Recording.StopReason.WITHDRAWN, stopped_by=None
    )

    assert stopped.seconds_on_before == 12
    assert stopped.ended_at is not None


def test_with_every_chunk_in_the_finalise_runs_at_once(settings):
    settings.RECORDING_UPLOAD_GRACE_SECONDS = 30
    recording = make_recording(on_for=6, last_seq=2)
    add_chunk_rows(recording, [0, 1, 2])

    recording_stop(recording_id=recording.id, reason=Recording.StopReason.STOPPED, stopped_by=None)

    [task] = finalise_tasks(recording)
    assert task.run_after == get_date_max()  # no delay: ready now
    assert DBTaskResult.objects.ready().filter(pk=task.pk).exists()


@pytest.mark.parametrize(
    ("last_seq", "stored"),
    [(None, [0, 1, 2]), (3, [0, 1, 2]), (2, [0, 2])],
    ids=["last-chunk-unknown", "last-chunk-missing", "middle-chunk-missing"],
)
def test_with_chunks_still_on_their_way_the_finalise_waits_for_the_grace(
    settings, last_seq, stored
):
    settings.RECORDING_UPLOAD_GRACE_SECONDS = 30
    recording = make_recording(on_for=6, last_seq=last_seq)
    add_chunk_rows(recording, stored)

    before = timezone.now()
    recording_stop(recording_id=recording.id, reason=Recording.StopReason.STOPPED, stopped_by=None)

    [task] = finalise_tasks(recording)
    assert (
        before + timedelta(seconds=30) <= task.run_after <= timezone.now() + timedelta(seconds=30)
    )
    assert not DBTaskResult.objects.ready().filter(pk=task.pk).exists()


def test_a_second_stop_changes_nothing_and_enqueues_nothing_more():
    recording = make_recording(on_for=4)
    first = recording_stop(
        recording_id=recording.id, reason=Recording.StopReason.STOPPED, stopped_by=None
    )

    again = recording_stop(
        recording_id=recording.id,
        reason=Recording.StopReason.WITHDRAWN,
        stopped_by=recording.appointment.patient.user,
    )

    again.refresh_from_db()
    assert again.ended_at == first.ended_at
    assert again.seconds_on_before == first.seconds_on_before
    assert again.stop_reason == Recording.StopReason.STOPPED
    assert again.stopped_by is None
    assert len(finalise_tasks(recording)) == 1


@pytest.mark.parametrize(
    "status",
    [
        Recording.Status.DECLINED,
        Recording.Status.PROCESSING,
        Recording.Status.READY,
        Recording.Status.FAILED,
    ],
)
def test_stopping_a_recording_that_is_not_live_is_a_no_op(status):
    recording = make_recording(status=status)

    stopped = recording_stop(
        recording_id=recording.id, reason=Recording.StopReason.STOPPED, stopped_by=None
    )

    stopped.refresh_from_db()
    assert stopped.status == status
    assert stopped.ended_at is None
    assert stopped.stop_reason == ""
    assert finalise_tasks(recording) == []
