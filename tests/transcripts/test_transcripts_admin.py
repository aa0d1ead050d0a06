"""Transcriptions in the admin: clinic staff see them and their consents (every look logged),
nobody adds, edits or deletes one, and the words are read on the portal's logged page."""

import pytest
from django.urls import reverse

from tests.factories import make_admin, make_doctor
from tests.transcripts.factories import make_transcript
from visits.models import AccessLogEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def transcription():
    return make_transcript()[0].transcription


def test_staff_see_the_list_and_one_and_each_look_is_logged(client, transcription):
    staff = make_admin()
    client.force_login(staff)

    listed = client.get(reverse("admin:transcripts_transcription_changelist"))
    shown = client.get(reverse("admin:transcripts_transcription_change", args=[transcription.pk]))

    assert listed.status_code == shown.status_code == 200
    assert str(transcription.appointment) in listed.content.decode()
    page = shown.content.decode()
    assert reverse("transcripts:visit-transcript", args=[transcription.appointment_id]) in page
    assert "Allowed" in page  # the consents
    assert transcription.segments.first().text not in page  # the words: on the logged page
    entries = AccessLogEntry.objects.filter(viewer=staff, what=AccessLogEntry.What.TRANSCRIPT)
    assert sorted(entries.values_list("action", flat=True)) == ["list", "view"]
    assert entries.get(action="view").appointment_id == transcription.appointment_id


def test_nobody_adds_edits_or_deletes_one_and_doctors_do_not_see_them(client, transcription):
    client.force_login(make_admin())
    change = reverse("admin:transcripts_transcription_change", args=[transcription.pk])
    assert client.get(reverse("admin:transcripts_transcription_add")).status_code == 403
    assert client.post(change, {"status": "failed"}).status_code == 403
    delete = reverse("admin:transcripts_transcription_delete", args=[transcription.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    transcription.refresh_from_db()
    assert transcription.status == "done"
    client.force_login(make_doctor().user)
    listed = client.get(reverse("admin:transcripts_transcription_changelist"))
    assert listed.status_code in (302, 403)
