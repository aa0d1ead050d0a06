"""Deleting recordings: clinic staff with a reason, and retention (the command). The media and
chunk files go, the row and its consents stay, and each deletion is in the access log."""

import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from clinic.errors import (
    ApplicationError,
    ConflictError,
    NotFoundError,
    NotSignedInError,
    PermissionDeniedError,
)
from rooms.recordings.models import Recording, RecordingChunk
from rooms.recordings.services.chunks import recording_chunk_put
from rooms.recordings.services.deletion import recording_delete, recordings_expire
from rooms.recordings.storage import recordings_storage
from tests.factories import at, make_admin, make_appointment, make_doctor, make_patient
from tests.recordings.factories import make_ready_recording, make_recording
from visits.models import AccessLogEntry, User

pytestmark = pytest.mark.django_db

MEDIA = b"\x1a\x45\xdf\xa3" + b"consultation" * 1000


@pytest.fixture
def ready():
    return make_ready_recording(media=MEDIA)


def files_of(recording) -> list[str]:
    storage = recordings_storage()
    found = []
    for folder in (str(recording.id), f"{recording.id}/chunks"):
        if storage.exists(folder):
            found += [f"{folder}/{name}" for name in storage.listdir(folder)[1]]
    return sorted(found)


def delete(recording, user, reason="Recorded the wrong patient", **kwargs):
    return recording_delete(user=user, recording_id=recording.id, reason=reason, **kwargs)


# --- Staff delete, saying why ------------------------------------------------------------------


def test_staff_delete_the_media_and_the_record_stays(ready, django_capture_on_commit_callbacks):
    staff = make_admin()
    assert files_of(ready) == [ready.media_name]
    with django_capture_on_commit_callbacks(execute=True):
        deleted = delete(ready, staff)
    assert files_of(ready) == []
    assert not recordings_storage().exists(str(ready.id))  # not even the empty folder
    row = Recording.objects.get(pk=ready.pk)
    assert row.status == Recording.Status.DELETED == deleted.status
    assert (row.deleted_by, row.deleted_reason) == (staff, "Recorded the wrong patient")
    assert row.deleted_at is not None
    assert row.media_name == ""
    assert row.sha256 == ready.sha256 and row.size_bytes == len(MEDIA)  # what it was
    assert row.consents.count() == 2


def test_the_deletion_is_in_the_access_log_with_its_reason(ready):
    staff = make_admin()
    delete(ready, staff, reason="  Patient asked, ticket 42  ")
    [entry] = AccessLogEntry.objects.filter(action="delete")
    assert (entry.viewer, entry.viewer_role, entry.what, entry.channel) == (
        staff,
        "admin",
        "recording",
        "admin",
    )
    assert (entry.appointment, entry.patient) == (ready.appointment, ready.appointment.patient)
    assert entry.reason == "Patient asked, ticket 42"
    assert entry.record == f"recordings.recording {ready.id}"


def test_a_deleted_recording_is_gone_from_the_api(ready, client):
    delete(ready, make_admin())
    client.force_login(ready.appointment.patient.user)
    assert client.get(f"/api/recordings/{ready.id}/").status_code == 404
    assert client.get(f"/api/recordings/{ready.id}/media/").status_code == 404
    listed = client.get(f"/api/appointments/{ready.appointment_id}/recordings/").json()
    assert listed == []


def test_chunk_files_and_leftovers_go_too(django_capture_on_commit_callbacks):
    recording = make_recording()
    doctor = recording.requested_by
    for seq in range(3):
        recording_chunk_put(user=doctor, recording_id=recording.id, seq=seq, data=b"x" * seq)
    recordings_storage().save(f"{recording.id}/chunks/000001_leftover.enc", StringIO("orphan"))
    Recording.objects.filter(pk=recording.pk).update(
        status=Recording.Status.FAILED, ended_at=timezone.now(), failure="remux failed"
    )
    assert len(files_of(recording)) == 4
    with django_capture_on_commit_callbacks(execute=True):
        delete(recording, make_admin())
    assert files_of(recording) == []
    assert not RecordingChunk.objects.filter(recording=recording).exists()


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_reason_is_required(ready, reason):
    with pytest.raises(ApplicationError, match="Say why") as refusal:
        delete(ready, make_admin(), reason=reason)
    assert refusal.value.field == "reason"
    assert Recording.objects.get(pk=ready.pk).status == Recording.Status.READY


def test_a_reason_has_a_length_limit(ready):
    with pytest.raises(ApplicationError, match="at most 1000"):
        delete(ready, make_admin(), reason="x" * 1001)


@pytest.mark.parametrize("who", ["doctor", "patient"])
def test_the_visits_doctor_and_patient_may_not_delete(ready, who):
    appointment = ready.appointment
    user = appointment.doctor.user if who == "doctor" else appointment.patient.user
    with pytest.raises(PermissionDeniedError, match="Only clinic staff delete recordings"):
        delete(ready, user)
    assert files_of(ready) == [ready.media_name]
    assert not AccessLogEntry.objects.filter(action="delete").exists()


def test_strangers_are_told_it_does_not_exist(ready):
    for stranger in (make_doctor().user, make_patient().user):
        with pytest.raises(NotFoundError, match="No such recording"):
            delete(ready, stranger)
    with pytest.raises(NotFoundError):
        recording_delete(user=make_admin(), recording_id=uuid.uuid4(), reason="x")
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(NotSignedInError):
        delete(ready, AnonymousUser())


def test_a_superuser_deletes(ready):
    root = User.objects.create_superuser(username="root", password="x", email="r@example.org")
    delete(ready, root)
    assert AccessLogEntry.objects.get(action="delete").viewer_role == "superuser"


def test_deleting_twice_is_a_conflict(ready):
    staff = make_admin()
    delete(ready, staff)
    with pytest.raises(ConflictError, match="already deleted"):
        delete(ready, staff)
    assert AccessLogEntry.objects.filter(action="delete").count() == 1


@pytest.mark.parametrize(
    "status",
    [
        Recording.Status.PENDING,
        Recording.Status.DECLINED,
        Recording.Status.RECORDING,
        Recording.Status.PROCESSING,
    ],
)
def test_only_a_finished_recording_is_deleted(status):
    recording = make_recording(status=status)
    with pytest.raises(ConflictError, match="once it is ready or has failed"):
        delete(recording, make_admin())


def test_a_storage_failure_is_logged_and_the_row_still_says_deleted(
    ready, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    def broken(name):
        raise OSError("bucket unreachable")

    monkeypatch.setattr("rooms.recordings.services.deletion.delete_stored", broken)
    with django_capture_on_commit_callbacks(execute=True):
        delete(ready, make_admin())
    assert Recording.objects.get(pk=ready.pk).status == Recording.Status.DELETED
    assert "could not all be removed" in caplog.text


# --- Retention ---------------------------------------------------------------------------------


def ended(days_ago: float, **fields):
    return make_ready_recording(
        make_appointment(start=at(days=-int(days_ago) - 1)),
        media=MEDIA,
        ended_at=timezone.now() - timedelta(days=days_ago),
        **fields,
    )


def test_recordings_past_their_retention_expire(settings, django_capture_on_commit_callbacks):
    settings.RECORDING_RETENTION_DAYS = 30
    old, recent = ended(31), ended(29)
    with django_capture_on_commit_callbacks(execute=True):
        assert recordings_expire(now=timezone.now()) == 1
    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.status == Recording.Status.DELETED
    assert old.deleted_by is None
    assert old.deleted_reason == "Its retention of 30 days ran out."
    assert files_of(old) == []
    assert recent.status == Recording.Status.READY
    assert files_of(recent) == [recent.media_name]


def test_the_edge_counts_from_ended_at(settings):
    settings.RECORDING_RETENTION_DAYS = 10
    recording = ended(10)
    assert recordings_expire(now=recording.ended_at + timedelta(days=10)) == 0
    assert recordings_expire(now=recording.ended_at + timedelta(days=10, seconds=1)) == 1


def test_each_expiry_is_logged_as_the_systems(settings):
    settings.RECORDING_RETENTION_DAYS = 1
    old = ended(2)
    recordings_expire(now=timezone.now())
    [entry] = AccessLogEntry.objects.all()
    assert entry.viewer is None
    assert (entry.viewer_role, entry.what, entry.action, entry.channel) == (
        "system",
        "recording",
        "expire",
        "system",
    )
    assert (entry.appointment, entry.patient) == (old.appointment, old.appointment.patient)
    assert entry.reason == "Its retention of 1 day ran out."
    assert str(entry).startswith("The system expire recording of ")


def test_failed_and_stuck_recordings_expire_too(settings):
    settings.RECORDING_RETENTION_DAYS = 1
    long_ago = timezone.now() - timedelta(days=5)
    failed = make_recording(status=Recording.Status.FAILED, ended_at=long_ago)
    never_stopped = make_recording(status=Recording.Status.RECORDING, started_at=long_ago)
    assert recordings_expire(now=timezone.now()) == 2
    for recording in (failed, never_stopped):
        recording.refresh_from_db()
        assert recording.status == Recording.Status.DELETED


def test_deleted_declined_and_pending_ones_are_left_alone(settings):
    settings.RECORDING_RETENTION_DAYS = 1
    old = ended(5)
    recording_delete(user=make_admin(), recording_id=old.id, reason="Asked")
    make_recording(status=Recording.Status.DECLINED)
    make_recording(status=Recording.Status.PENDING)
    Recording.objects.update(requested_at=timezone.now() - timedelta(days=5))
    assert recordings_expire(now=timezone.now()) == 0
    assert not AccessLogEntry.objects.filter(action="expire").exists()


def test_expiring_again_does_nothing(settings):
    settings.RECORDING_RETENTION_DAYS = 1
    ended(3)
    assert recordings_expire(now=timezone.now()) == 1
    assert recordings_expire(now=timezone.now()) == 0
    assert AccessLogEntry.objects.filter(action="expire").count() == 1


def test_the_command_expires_and_says_how_many(settings, django_capture_on_commit_callbacks):
    settings.RECORDING_RETENTION_DAYS = 7
    old = ended(8)
    ended(1)
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("expire_recordings", stdout=out)
    assert out.getvalue().strip() == "1 recording expired (retention 7 days)."
    assert files_of(old) == []


def test_the_admins_access_log_shows_the_systems_entries(client, settings):
    settings.RECORDING_RETENTION_DAYS = 1
    ended(2)
    recordings_expire(now=timezone.now())
    client.force_login(make_admin())
    page = client.get(reverse("admin:visits_accesslogentry_changelist"))
    assert page.status_code == 200
    entry = AccessLogEntry.objects.get(action="expire")
    change = client.get(reverse("admin:visits_accesslogentry_change", args=[entry.pk]))
    assert change.status_code == 200
    assert "Its retention of 1 day ran out." in change.content.decode()
