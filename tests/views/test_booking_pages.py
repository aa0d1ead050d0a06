"""The portal's booking pages go through the same services as the REST API."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import at, make_appointment, make_doctor, make_patient
from visits.models import Appointment

pytestmark = pytest.mark.django_db


def _tomorrow_slot(doctor, hour=10):
    day = timezone.now().date() + timedelta(days=1)
    return datetime.combine(day, time(hour), tzinfo=UTC), day


@pytest.fixture
def patient_client(client):
    patient = make_patient()
    client.force_login(patient.user)
    client.patient = patient
    return client


def test_patient_picks_a_doctor_a_day_and_a_free_slot(patient_client):
    doctor = make_doctor(display_name="Dr. Booker")
    make_doctor(display_name="Dr. Elsewhere", specialty="Dermatology")
    listing = patient_client.get(reverse("portal:book"), {"q": "booker"}).content.decode()
    assert "Dr. Booker" in listing and "Dr. Elsewhere" not in listing

    start, day = _tomorrow_slot(doctor)
    url = reverse("portal:book-slot", args=[doctor.id])
    page = patient_client.get(url, {"date": day.isoformat()}).content.decode()
    assert f'value="{start.isoformat()}"' in page

    response = patient_client.post(
        url + f"?date={day}", {"start": start.isoformat(), "reason": "Knee pain"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("portal:home")
    appointment = Appointment.objects.get()
    assert appointment.patient == patient_client.patient
    assert (appointment.start, appointment.status) == (start, "requested")
    home = patient_client.get(reverse("portal:home")).content.decode()
    assert "Knee pain" in home and "Visit requested" in home


def test_a_taken_or_invalid_slot_is_explained_and_nothing_is_booked(patient_client):
    doctor = make_doctor()
    start, _ = _tomorrow_slot(doctor)
    make_appointment(doctor=doctor, start=start)
    url = reverse("portal:book-slot", args=[doctor.id])
    taken = patient_client.post(url, {"start": start.isoformat(), "reason": "Knee pain"})
    assert taken.status_code == 400
    assert "no longer free" in taken.content.decode()
    misaligned = patient_client.post(
        url, {"start": (start + timedelta(minutes=7)).isoformat(), "reason": "Knee pain"}
    )
    assert "is not one of" in misaligned.content.decode()
    no_reason = patient_client.post(url, {"start": (start + timedelta(hours=1)).isoformat()})
    assert no_reason.status_code == 400
    assert Appointment.objects.count() == 1


def test_booked_slots_are_not_offered(patient_client):
    doctor = make_doctor()
    start, day = _tomorrow_slot(doctor)
    make_appointment(doctor=doctor, start=start)
    page = patient_client.get(reverse("portal:book-slot", args=[doctor.id]), {"date": day})
    assert f'value="{start.isoformat()}"' not in page.content.decode()
    assert f'value="{(start + timedelta(minutes=20)).isoformat()}"' in page.content.decode()


def test_patient_reschedules_and_cancels_their_visit(patient_client):
    doctor = make_doctor()
    start, _ = _tomorrow_slot(doctor)
    appointment = make_appointment(
        doctor=doctor, patient=patient_client.patient, start=start, status="confirmed"
    )
    new_start = start + timedelta(hours=2)
    moved = patient_client.post(
        reverse("portal:reschedule", args=[appointment.id]), {"start": new_start.isoformat()}
    )
    assert moved.status_code == 302
    appointment.refresh_from_db()
    assert appointment.start == new_start
    assert appointment.status == "requested"  # the doctor confirms the new time

    cancel_url = reverse("portal:cancel", args=[appointment.id])
    patient_client.post(cancel_url, {"reason": ""})
    appointment.refresh_from_db()
    assert appointment.status == "requested"  # no reason, no cancellation
    patient_client.post(cancel_url, {"reason": "Feeling better"})
    appointment.refresh_from_db()
    assert (appointment.status, appointment.cancellation_reason) == ("cancelled", "Feeling better")


def test_other_patients_visits_cannot_be_touched(patient_client):
    theirs = make_appointment(start=at(days=1))
    assert patient_client.get(reverse("portal:reschedule", args=[theirs.id])).status_code == 404
    response = patient_client.post(
        reverse("portal:cancel", args=[theirs.id]), {"reason": "Mischief"}
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "requested"


def test_booking_pages_are_for_patients(client):
    assert client.get(reverse("portal:book")).status_code == 302  # to the login page
    client.force_login(make_doctor().user)
    assert client.get(reverse("portal:book")).status_code == 403
