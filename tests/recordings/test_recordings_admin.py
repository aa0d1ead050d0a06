"""Recordings in the admin: clinic staff see them (every look logged), nobody adds or edits
one, and "Delete recording…" asks why before the service deletes the media."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from rooms.recordings.models import Recording
from tests.factories import make_admin
from tests.recordings.factories import make_ready_recording, make_recording
from visits.models import AccessLogEntry, User

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:recordings_recording_changelist"


@pytest.fixture
def ready():
    return make_ready_recording(media=b"\x1a\x45\xdf\xa3 admin")


@pytest.fixture
def staff(client):
    user = make_admin()
    client.force_login(user)
    return user


def _superuser():
    return User.objects.create_superuser(username="root", password="x", email="r@example.org")


def _staff_with_every_recordings_permission():
    user = make_admin()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="recordings"))
    return user


ADMINS = [
    pytest.param(make_admin, id="staff"),
    pytest.param(_superuser, id="superuser"),
    pytest.param(_staff_with_every_recordings_permission, id="staff-with-permissions"),
]


def ask_to_delete(client, recordings, **form):
    return client.post(
        reverse(CHANGELIST),
        {"action": "delete_recordings", "_selected_action": [r.pk for r in recordings], **form},
    )


def test_staff_see_the_list_and_it_is_logged(client, staff, ready):
    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    assert str(ready.appointment) in page.content.decode()
    [entry] = AccessLogEntry.objects.health_data()
    assert (entry.viewer, entry.what, entry.action, entry.channel) == (
        staff,
        "recording",
        "list",
        "admin",
    )


def test_a_recording_page_shows_its_consents_and_is_logged(client, staff, ready):
    page = client.get(reverse("admin:recordings_recording_change", args=[ready.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Allowed" in text and ready.sha256 in text
    assert text.count('<tr class="form-row') >= 2 or "consent" in text.lower()
    [entry] = AccessLogEntry.objects.health_data()
    assert (entry.action, entry.patient, entry.appointment) == (
        "view",
        ready.appointment.patient,
        ready.appointment,
    )
    assert entry.record == f"recordings.recording {ready.pk}"


@pytest.mark.parametrize("make_user", ADMINS)
def test_nobody_adds_edits_or_deletes_through_django(client, ready, make_user):
    client.force_login(make_user())
    assert client.get(reverse("admin:recordings_recording_add")).status_code == 403
    change = reverse("admin:recordings_recording_change", args=[ready.pk])
    client.post(change, {"status": "failed", "sha256": "0" * 64})
    delete = reverse("admin:recordings_recording_delete", args=[ready.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    page = client.get(reverse(CHANGELIST))
    assert [name for name, _ in page.context["action_form"].fields["action"].choices][1:] == [
        "delete_recordings"
    ]  # Django's "Delete selected" is not offered
    client.post(
        reverse(CHANGELIST),
        {"action": "delete_selected", "_selected_action": [ready.pk], "post": "yes"},
    )
    row = Recording.objects.get(pk=ready.pk)
    assert (row.status, row.sha256) == (Recording.Status.READY, ready.sha256)


def test_the_action_first_asks_why(client, staff, ready):
    page = ask_to_delete(client, [ready])
    assert page.status_code == 200
    assert page.templates[0].name == "recordings/admin_delete.html"
    text = page.content.decode()
    assert 'name="reason"' in text and str(ready) in text
    assert "This field is required" not in text  # asked, not yet refused
    assert Recording.objects.get(pk=ready.pk).status == Recording.Status.READY


def test_without_a_reason_nothing_is_deleted(client, staff, ready):
    page = ask_to_delete(client, [ready], apply="Delete", reason="")
    assert page.status_code == 200
    assert "This field is required" in page.content.decode()
    assert Recording.objects.get(pk=ready.pk).status == Recording.Status.READY
    assert not AccessLogEntry.objects.filter(action="delete").exists()


@pytest.mark.parametrize("make_user", ADMINS)
def test_with_a_reason_the_media_is_deleted_and_logged(
    client, ready, make_user, django_capture_on_commit_callbacks
):
    user = make_user()
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        done = ask_to_delete(client, [ready], apply="Delete", reason="Consent was disputed")
    assert done.status_code == 302
    row = Recording.objects.get(pk=ready.pk)
    assert row.status == Recording.Status.DELETED
    assert row.deleted_reason == "Consent was disputed"
    entry = AccessLogEntry.objects.get(action="delete")
    assert (entry.viewer, entry.channel, entry.reason) == (user, "admin", "Consent was disputed")
    messages = [str(m) for m in client.get(reverse(CHANGELIST)).context["messages"]]
    assert messages == ["1 recording deleted."]


def test_a_refusal_is_shown_and_the_others_are_deleted(client, staff, ready):
    processing = make_recording(status=Recording.Status.PROCESSING)
    ask_to_delete(client, [ready, processing], apply="Delete", reason="Clean-up")
    assert Recording.objects.get(pk=ready.pk).status == Recording.Status.DELETED
    assert Recording.objects.get(pk=processing.pk).status == Recording.Status.PROCESSING
    messages = [str(m) for m in client.get(reverse(CHANGELIST)).context["messages"]]
    assert messages[0].endswith("deleted once it is ready or has failed.")
    assert messages[1] == "1 recording deleted."


@pytest.mark.parametrize("role", ["doctor", "patient"])
def test_doctors_and_patients_never_reach_it(client, ready, role):
    appointment = ready.appointment
    client.force_login(appointment.doctor.user if role == "doctor" else appointment.patient.user)
    assert client.get(reverse(CHANGELIST)).status_code == 302  # to the admin's sign-in
    ask_to_delete(client, [ready], apply="Delete", reason="x")
    assert Recording.objects.get(pk=ready.pk).status == Recording.Status.READY
