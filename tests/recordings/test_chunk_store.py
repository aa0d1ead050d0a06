"""The chunk store: any order, idempotent by number, conflicts refused, only the recording
doctor, only while it takes chunks."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from clinic.errors import (
    ApplicationError,
    ConflictError,
    NotFoundError,
    NotSignedInError,
    PayloadTooLargeError,
    PermissionDeniedError,
)
from rooms.recordings.encryption import open_decrypted
from rooms.recordings.models import Recording, RecordingChunk
from rooms.recordings.services.chunks import recording_chunk_put
from rooms.recordings.storage import chunk_context, recordings_storage
from tests.factories import make_admin, make_doctor, make_patient
from tests.recordings.factories import make_recording

pytestmark = pytest.mark.django_db


@pytest.fixture
def recording():
    return make_recording()


@pytest.fixture
def finalise_scheduled(monkeypatch):
    scheduled = []
    monkeypatch.setattr(
        "rooms.recordings.services.chunks.schedule_finalise",
        lambda recording_id, **kwargs: scheduled.append((recording_id, kwargs)),
    )
    return scheduled


def put(recording, seq, data, *, user=None, last=False):
    return recording_chunk_put(
        user=user or recording.requested_by,
        recording_id=recording.id,
        seq=seq,
        data=data,
        last=last,
    )


def stored_files(recording) -> list[str]:
    storage = recordings_storage()
    folder = f"{recording.id}/chunks"
    return sorted(storage.listdir(folder)[1]) if storage.exists(folder) else []


def test_a_chunk_is_stored_encrypted_with_its_figures(recording):
    data = b"\x1a\x45\xdf\xa3 first chunk of the webm stream"
    chunk, created = put(recording, 0, data)
    assert created
    assert (chunk.seq, chunk.size_bytes) == (0, len(data))
    assert chunk.sha256 == hashlib.sha256(data).hexdigest()
    assert chunk.storage_name == f"{recording.id}/chunks/000000.enc"
    with recordings_storage().open(chunk.storage_name, "rb") as stored:
        assert b"first chunk" not in stored.read()
    opened = open_decrypted(chunk.storage_name, context=chunk_context(recording.id, 0))
    assert b"".join(opened.iter_all()) == data
    recording.refresh_from_db()
    assert recording.last_chunk_at is not None
    assert recording.last_seq is None


def test_chunks_arrive_in_any_order_and_are_kept_by_number(recording):
    for seq in (2, 0, 3, 1):
        put(recording, seq, f"chunk {seq}".encode())
    assert list(recording.chunks.values_list("seq", flat=True)) == [0, 1, 2, 3]
    assert stored_files(recording) == [f"{seq:06d}.enc" for seq in range(4)]


def test_the_same_bytes_again_are_acknowledged_and_not_stored_twice(recording):
    first, created = put(recording, 0, b"once")
    again, created_again = put(recording, 0, b"once")
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert RecordingChunk.objects.filter(recording=recording).count() == 1
    assert stored_files(recording) == ["000000.enc"]


def test_other_bytes_under_a_stored_number_are_a_conflict(recording):
    put(recording, 0, b"original")
    with pytest.raises(ConflictError, match="already stored with other bytes"):
        put(recording, 0, b"different")
    chunk = recording.chunks.get()
    assert chunk.sha256 == hashlib.sha256(b"original").hexdigest()
    assert stored_files(recording) == ["000000.enc"]


def test_over_the_size_limit_is_refused(recording, settings):
    settings.RECORDING_CHUNK_MAX_BYTES = 1024
    put(recording, 0, b"x" * 1024)
    with pytest.raises(PayloadTooLargeError, match="at most 1024 bytes"):
        put(recording, 1, b"x" * 1025)
    assert stored_files(recording) == ["000000.enc"]


@pytest.mark.parametrize("seq", [-1, 1_000_000])
def test_a_number_out_of_range_is_refused(recording, seq):
    with pytest.raises(ApplicationError, match="from 0 to 999999"):
        put(recording, seq, b"x")


def test_an_empty_chunk_is_taken(recording):
    chunk, created = put(recording, 0, b"", last=True)
    assert created and chunk.size_bytes == 0


def test_the_last_chunk_is_marked_and_nothing_after_it_is_taken(recording):
    put(recording, 0, b"a")
    put(recording, 2, b"c", last=True)
    recording.refresh_from_db()
    assert recording.last_seq == 2
    with pytest.raises(ConflictError, match="Chunk 2 was the recording's last"):
        put(recording, 3, b"d")
    with pytest.raises(ConflictError, match="Chunk 2 is already the recording's last"):
        put(recording, 1, b"b", last=True)
    assert put(recording, 1, b"b")[1] is True  # the missing one before the last
    assert put(recording, 2, b"c", last=True)[1] is False  # the retry of the last one


def test_a_last_chunk_before_stored_ones_is_refused(recording):
    put(recording, 3, b"d")
    with pytest.raises(ConflictError, match="cannot be the last"):
        put(recording, 2, b"c", last=True)


def test_after_the_stop_chunks_are_taken_during_the_grace(recording, settings):
    settings.RECORDING_UPLOAD_GRACE_SECONDS = 30
    Recording.objects.filter(pk=recording.pk).update(
        ended_at=timezone.now() - timedelta(seconds=20), resumed_at=None
    )
    assert put(recording, 0, b"in flight when it stopped")[1]


def test_after_the_stop_and_the_grace_nothing_is_taken(recording, settings):
    settings.RECORDING_UPLOAD_GRACE_SECONDS = 30
    put(recording, 0, b"a")
    Recording.objects.filter(pk=recording.pk).update(
        ended_at=timezone.now() - timedelta(seconds=31), resumed_at=None
    )
    with pytest.raises(ConflictError, match="upload time is over"):
        put(recording, 1, b"too late")
    assert put(recording, 0, b"a")[1] is False  # an acknowledged retry is still acknowledged


@pytest.mark.parametrize(
    ("status", "why"),
    [
        (Recording.Status.PENDING, "has not started"),
        (Recording.Status.DECLINED, "was declined"),
        (Recording.Status.PROCESSING, "not taking chunks"),
        (Recording.Status.READY, "not taking chunks"),
        (Recording.Status.FAILED, "not taking chunks"),
        (Recording.Status.DELETED, "not taking chunks"),
    ],
)
def test_a_recording_that_is_not_recording_takes_nothing(status, why):
    recording = make_recording(status=status)
    with pytest.raises(ConflictError, match=why):
        put(recording, 0, b"x")
    assert not recording.chunks.exists()


def test_a_stopped_recording_with_all_its_chunks_is_finalised_at_once(
    recording, finalise_scheduled, django_capture_on_commit_callbacks
):
    Recording.objects.filter(pk=recording.pk).update(ended_at=timezone.now(), resumed_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        put(recording, 1, b"b", last=True)
    assert finalise_scheduled == []  # chunk 0 is still missing
    with django_capture_on_commit_callbacks(execute=True):
        put(recording, 0, b"a")
    assert finalise_scheduled == [(recording.id, {})]
    with django_capture_on_commit_callbacks(execute=True):
        put(recording, 0, b"a")  # a retry schedules nothing more
    assert len(finalise_scheduled) == 1


def test_a_recording_still_on_is_not_finalised(recording, finalise_scheduled):
    put(recording, 0, b"a", last=True)
    assert finalise_scheduled == []


def test_the_patient_is_refused(recording):
    with pytest.raises(PermissionDeniedError, match="Only the visit's doctor records it"):
        put(recording, 0, b"x", user=recording.appointment.patient.user)
    assert not recording.chunks.exists()


def test_clinic_staff_are_refused(recording):
    with pytest.raises(PermissionDeniedError):
        put(recording, 0, b"x", user=make_admin())


def test_another_doctor_and_another_patient_are_told_it_does_not_exist(recording):
    for stranger in (make_doctor().user, make_patient().user):
        with pytest.raises(NotFoundError, match="No such recording"):
            put(recording, 0, b"x", user=stranger)
    assert not recording.chunks.exists()


def test_the_visits_doctor_who_did_not_ask_for_it_is_refused(recording):
    # The visit was moved to another doctor after the recording began.
    other = make_doctor()
    appointment = recording.appointment
    appointment.doctor = other
    appointment.save(update_fields=["doctor"])
    with pytest.raises(PermissionDeniedError, match="Only the doctor recording it"):
        put(recording, 0, b"x", user=other.user)


def test_a_recording_that_does_not_exist(recording):
    import uuid

    with pytest.raises(NotFoundError, match="No such recording"):
        recording_chunk_put(
            user=recording.requested_by, recording_id=uuid.uuid4(), seq=0, data=b"x"
        )


def test_nobody_signed_in_is_refused(recording):
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(NotSignedInError):
        put(recording, 0, b"x", user=AnonymousUser())


def test_a_failed_row_write_leaves_no_file(recording, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(RecordingChunk.objects, "create", fail)
    with pytest.raises(RuntimeError):
        put(recording, 0, b"x")
    assert stored_files(recording) == []
