"""The seed the live tests and the benchmarks share (tests/live_seed.py), made in-process here:
open visits whose tokens authenticate, a stranger, and a doctor who can also sign in."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests import live_seed
from visits.models import Appointment, AppointmentStatus

pytestmark = pytest.mark.django_db

ME = "/api/me/"


def _me(client, person: dict) -> int:
    response = client.get(ME, headers={"Authorization": f"Bearer {person['token']}"})
    assert response.status_code == 200, response.content
    return response.json()["id"]


def test_seeded_visits_are_open_now_and_every_token_authenticates(client):
    data = live_seed.make(visits=2, prefix="seedtest", stranger=True)

    assert len(data["visits"]) == 2
    for visit in data["visits"]:
        appointment = Appointment.objects.get(pk=visit["id"])
        assert str(appointment.room_id) == visit["room_id"]
        assert appointment.status == AppointmentStatus.CONFIRMED
        assert timedelta(0) < appointment.start - timezone.now() <= live_seed.VISIT_STARTS_IN
        assert _me(client, visit["doctor"]) == visit["doctor"]["user_id"]
        assert _me(client, visit["patient"]) == visit["patient"]["user_id"]
        assert visit["doctor"]["display_name"] == appointment.doctor.display_name
    assert not Appointment.objects.filter(patient__user_id=data["stranger"]["user_id"]).exists()
    assert _me(client, data["stranger"]) == data["stranger"]["user_id"]


def test_the_doctor_given_a_password_signs_in_and_keeps_a_working_token(client):
    # A new password revokes a person's tokens: the seed must mint them after setting it.
    data = live_seed.make(visits=1, prefix="seedpw", doctor_password="a-live-test-passphrase")
    doctor = data["visits"][0]["doctor"]

    signed_in = client.post(
        "/api/auth/token/",
        {"username": doctor["username"], "password": "a-live-test-passphrase"},
        content_type="application/json",
    )
    assert signed_in.status_code == 200, signed_in.content
    assert _me(client, doctor) == doctor["user_id"]


def test_probes_report_what_the_seeding_process_sees():
    probe = "django.utils.timezone:get_current_timezone_name"
    assert live_seed.make(probes=[probe]) == {"visits": [], "probes": {probe: "UTC"}}
