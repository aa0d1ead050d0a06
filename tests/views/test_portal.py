import pytest
from django.urls import reverse

from tests.factories import PASSWORD, at, make_appointment, make_doctor, make_patient, make_user
from visits.models import Role

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_page_is_csrf_protected(client):
    csrf_client = type(client)(enforce_csrf_checks=True)
    page = csrf_client.get(reverse("login"))
    assert page.status_code == 200
    assert b"csrfmiddlewaretoken" in page.content
    refused = csrf_client.post(reverse("login"), {"username": "x", "password": "y"})
    assert refused.status_code == 403


def test_login_and_logout(client):
    user = make_user(Role.PATIENT)
    bad = client.post(reverse("login"), {"username": user.username, "password": "wrong"})
    assert bad.status_code == 200 and "_auth_user_id" not in client.session
    good = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert good.status_code == 302 and good["Location"] == reverse("portal:home")
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.get(reverse("logout")).status_code == 405  # logging out takes a POST
    client.post(reverse("logout"))
    assert "_auth_user_id" not in client.session


def test_patient_sees_own_upcoming_visits_with_join_only_when_the_room_is_open(client):
    patient = make_patient()
    soon = make_appointment(patient=patient, start=at(minutes=5), reason="Thyroid follow-up")
    later = make_appointment(patient=patient, start=at(days=2), reason="Mole check")
    someone_else = make_appointment(start=at(minutes=5), reason="Other patient's secret")
    client.force_login(patient.user)
    page = client.get("/").content.decode()
    assert "Thyroid follow-up" in page and "Mole check" in page
    assert soon.doctor.display_name in page
    assert reverse("rooms:room", args=[soon.room_id]) in page
    assert reverse("rooms:room", args=[later.room_id]) not in page  # not open yet
    assert "Other patient's secret" not in page
    assert str(someone_else.room_id) not in page


def test_doctor_sees_todays_schedule_with_patient_names_and_reasons(client):
    doctor = make_doctor()
    now = at()
    mine = make_appointment(doctor=doctor, start=now, reason="Chest pain")
    other_doctor = make_appointment(start=now, reason="Not mine")
    client.force_login(doctor.user)
    page = client.get("/").content.decode()
    assert mine.patient.full_name in page and "Chest pain" in page
    assert reverse("rooms:room", args=[mine.room_id]) in page
    assert "Not mine" not in page and other_doctor.patient.full_name not in page


def test_clinic_staff_are_pointed_to_the_admin(client):
    client.force_login(make_user(Role.ADMIN))
    page = client.get("/").content.decode()
    assert reverse("admin:index") in page


def test_user_without_a_profile_gets_an_explanation(client):
    client.force_login(make_user(Role.DOCTOR))
    response = client.get("/")
    assert response.status_code == 200
    assert b"clinic staff" in response.content.lower() or b"contact" in response.content.lower()


def test_visit_times_are_shown_in_the_doctors_time_zone(client):
    doctor = make_doctor(time_zone="Asia/Tokyo")
    appointment = make_appointment(doctor=doctor, start=at(days=2))
    tokyo_start = appointment.start.astimezone(doctor.zone)
    client.force_login(appointment.patient.user)
    page = client.get("/").content.decode()
    assert f"{tokyo_start:%H:%M}" in page and "JST" in page
