"""The portal's transcript page: its patient after the visit, its doctor, nobody else; the
corrections beside what was heard; the exports linked; every view in the access log."""

import pytest
from django.urls import reverse

from rooms.transcripts.models import Transcription
from tests.factories import at, make_appointment, make_doctor, make_patient
from tests.recordings.factories import make_ready_recording
from tests.transcripts.factories import make_transcript, make_transcription
from visits.models import AccessLogEntry, AppointmentStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def visit():
    return make_appointment(start=at(days=-1), status=AppointmentStatus.COMPLETED)


def page(visit):
    return reverse("transcripts:visit-transcript", args=[visit.id])


def test_the_patient_reads_their_visits_transcript_with_the_doctors_corrections(client, visit):
    segments = make_transcript(visit)
    segments[1].corrected_text = "I have had headaches for three weeks."
    segments[1].save()
    client.force_login(visit.patient.user)

    response = client.get(page(visit))

    assert response.status_code == 200
    html = response.content.decode()
    assert html.index(segments[0].text) < html.index("three weeks") < html.index(segments[2].text)
    assert f"Heard as: “{segments[1].text}”" in html
    assert "00:03" in html  # the second segment's time in the visit
    assert "?format=vtt" in html and "?format=txt" in html
    entry = AccessLogEntry.objects.get(what=AccessLogEntry.What.TRANSCRIPT)
    assert (entry.viewer, entry.channel) == (visit.patient.user, AccessLogEntry.Channel.PORTAL)


def test_before_the_visit_is_over_the_patient_is_told_to_wait(client):
    visit = make_appointment(start=at(minutes=-5), status=AppointmentStatus.IN_PROGRESS)
    make_transcript(visit)
    client.force_login(visit.patient.user)
    response = client.get(page(visit))
    assert response.status_code == 403
    assert not AccessLogEntry.objects.filter(what=AccessLogEntry.What.TRANSCRIPT).exists()
    client.force_login(visit.doctor.user)  # the doctor reads it during the visit
    assert client.get(page(visit)).status_code == 200


def test_nobody_else_learns_the_visit_exists(client, visit):
    make_transcript(visit)
    for stranger in (make_patient().user, make_doctor().user):
        client.force_login(stranger)
        assert client.get(page(visit)).status_code == 404
    client.logout()
    response = client.get(page(visit))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_a_visit_without_one_says_so(client, visit):
    client.force_login(visit.patient.user)
    assert b"This visit has no transcript." in client.get(page(visit)).content


def test_the_patients_past_visits_link_to_it(client, visit):
    client.force_login(visit.patient.user)
    assert page(visit).encode() in client.get(reverse("portal:home")).content


def test_the_doctors_sidebar_shows_their_earlier_visits_transcripts_and_logs_it(client, visit):
    segments = make_transcript(visit)
    by_another = make_appointment(
        patient=visit.patient, start=at(days=-2), status=AppointmentStatus.COMPLETED
    )
    theirs = make_transcript(by_another)
    theirs[0].text = "Another doctor's visit, not this doctor's to read."
    theirs[0].save()
    today = make_appointment(
        doctor=visit.doctor, patient=visit.patient, start=at(minutes=5), status="confirmed"
    )
    client.force_login(visit.doctor.user)

    room = client.get(reverse("rooms:room", args=[today.room_id])).content.decode()

    assert segments[1].text in room and page(visit) in room
    assert "not this doctor's to read" not in room and page(by_another) not in room
    entry = AccessLogEntry.objects.get(what=AccessLogEntry.What.TRANSCRIPT)
    assert (entry.appointment_id, entry.channel) == (visit.id, AccessLogEntry.Channel.VISIT_ROOM)


def test_the_doctor_has_a_recording_transcribed_from_the_recordings_page(client, recordings_store):
    visit = make_appointment(start=at(days=-1), status=AppointmentStatus.COMPLETED)
    recording = make_ready_recording(visit, media=b"\\x1a\\x45\\xdf\\xa3 page")
    recordings_page = reverse("recordings:visit-recordings", args=[visit.id])
    transcribe = reverse("transcripts:recording-transcribe", args=[visit.id, recording.id])
    client.force_login(visit.patient.user)
    assert transcribe.encode() not in client.get(recordings_page).content  # the doctor's
    client.force_login(visit.doctor.user)
    assert transcribe.encode() in client.get(recordings_page).content

    refused = client.post(transcribe, follow=True)  # nobody allowed transcription yet
    assert "Consent to transcription is missing" in refused.content.decode()
    assert not Transcription.objects.filter(recording=recording).exists()

    before = at(hours=-30)
    make_transcription(visit, started_at=before, ended_at=before)  # everyone allowed it
    done = client.post(transcribe, follow=True)
    assert "is being transcribed" in done.content.decode()
    assert Transcription.objects.get(recording=recording).status == "processing"
    assert "Transcript: Transcribing a recording" in done.content.decode()
    assert client.get(transcribe).status_code == 405
