"""The portal's page of a visit's recordings: the visit's doctor, clinic staff and its patient
play them in the page (the <video> streams from the media API on the page's session) and
download them; nobody else learns the visit exists. Linked from the visit rows and the room's
previous visits."""

import re

import pytest
from django.urls import reverse

from rooms.recordings.models import Recording
from tests.factories import at, make_admin, make_appointment, make_doctor, make_patient
from tests.recordings.factories import make_ready_recording, make_recording
from visits.models import AccessLogEntry

pytestmark = pytest.mark.django_db

MEDIA = b"\x1a\x45\xdf\xa3" + b"webm" * 5000


@pytest.fixture
def visit():
    return make_appointment(start=at(days=-2), status="completed")


@pytest.fixture
def ready(visit):
    return make_ready_recording(visit, media=MEDIA)


def page_url(appointment) -> str:
    return reverse("recordings:visit-recordings", args=[appointment.id])


def open_page(client, user, appointment):
    client.force_login(user)
    return client.get(page_url(appointment))


def video_sources(response) -> list[str]:
    return re.findall(r'<video[^>]*\ssrc="([^"]+)"', response.content.decode())


@pytest.mark.parametrize("who", ["doctor", "patient", "staff"])
def test_the_doctor_the_patient_and_staff_play_it_in_the_page(client, visit, ready, who):
    user = {"doctor": visit.doctor.user, "patient": visit.patient.user, "staff": make_admin()}[who]
    response = open_page(client, user, visit)
    assert response.status_code == 200
    media = f"/api/recordings/{ready.id}/media/"
    assert video_sources(response) == [media]
    assert f'href="{media}?download=1"' in response.content.decode()
    # The page's own session plays it: no token anywhere.
    played = client.get(media, headers={"Range": "bytes=0-3"})
    assert played.status_code == 206
    assert b"".join(played.streaming_content) == MEDIA[:4]


def test_only_ready_recordings_have_a_player(client, visit, ready):
    make_recording(visit, status=Recording.Status.PROCESSING, ended_at=at())
    make_recording(visit, status=Recording.Status.FAILED, ended_at=at())
    deleted = make_recording(visit, status=Recording.Status.DELETED, ended_at=at())
    declined = make_recording(visit, status=Recording.Status.DECLINED)
    response = open_page(client, visit.doctor.user, visit)
    text = response.content.decode()
    assert len(video_sources(response)) == 1
    assert "Being prepared for playback" in text
    assert "could not be prepared" in text
    assert str(deleted.id) not in text and str(declined.id) not in text


def test_the_consents_are_shown(client, visit, ready):
    text = open_page(client, visit.patient.user, visit).content.decode()
    assert f"Allowed by {visit.doctor.user.display_name} (doctor)" in text
    assert f"Allowed by {visit.patient.user.display_name} (patient)" in text


def test_no_recordings_says_so(client, visit):
    response = open_page(client, visit.patient.user, visit)
    assert response.status_code == 200
    assert "This visit has no recordings." in response.content.decode()


@pytest.mark.parametrize("stranger", ["other_patient", "other_doctor"])
def test_strangers_get_404(client, visit, ready, stranger):
    user = make_patient().user if stranger == "other_patient" else make_doctor().user
    assert open_page(client, user, visit).status_code == 404
    assert client.get(f"/api/recordings/{ready.id}/media/").status_code == 404
    assert not AccessLogEntry.objects.health_data().exists()


def test_a_visit_that_does_not_exist_is_the_same_404(client, visit):
    client.force_login(visit.doctor.user)
    assert client.get(reverse("recordings:visit-recordings", args=[999_999])).status_code == 404


def test_signing_in_comes_first(client, visit):
    response = client.get(page_url(visit))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_the_page_is_logged_and_not_cached(client, visit, ready):
    response = open_page(client, visit.doctor.user, visit)
    assert "no-store" in response["Cache-Control"]
    [entry] = AccessLogEntry.objects.health_data()
    assert (entry.viewer, entry.what, entry.action, entry.channel, entry.appointment) == (
        visit.doctor.user,
        "recording",
        "list",
        "portal",
        visit,
    )


def test_the_patients_past_visits_link_to_it(client, visit):
    client.force_login(visit.patient.user)
    home = client.get(reverse("portal:home")).content.decode()
    assert f'href="{page_url(visit)}"' in home


def test_the_doctors_schedule_links_to_it(client):
    today = make_appointment(start=at(minutes=30))
    client.force_login(today.doctor.user)
    home = client.get(reverse("portal:home")).content.decode()
    assert f'href="{page_url(today)}"' in home


def test_the_rooms_previous_visits_link_to_it(client, visit):
    now = make_appointment(doctor=visit.doctor, patient=visit.patient, start=at(minutes=5))
    client.force_login(visit.doctor.user)
    room = client.get(reverse("rooms:room", args=[now.room_id])).content.decode()
    assert f'href="{page_url(visit)}"' in room
    assert f'href="{page_url(now)}"' not in room  # only earlier visits


def test_the_admin_links_a_ready_recording_to_the_page(client, visit, ready):
    client.force_login(make_admin())
    page = client.get(reverse("admin:recordings_recording_change", args=[ready.pk]))
    assert f'href="{page_url(visit)}#recording-{ready.pk}"' in page.content.decode()
