from datetime import timedelta

import pytest
from django.contrib import admin
from django.urls import reverse

from tests.factories import at, make_appointment, make_doctor, make_patient, make_user
from visits.admin import ReadOnlyAdmin
from visits.models import Appointment, Role, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(make_user(Role.ADMIN))
    return client


def _admin_urls(obj_for_model):
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label != "visits":
            continue
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        yield reverse(f"{prefix}_changelist")
        if not isinstance(model_admin, ReadOnlyAdmin):
            yield reverse(f"{prefix}_add")
        obj = obj_for_model.get(model)
        if obj is not None:
            yield reverse(f"{prefix}_change", args=[obj.pk])


@pytest.fixture
def clinic_objects():
    appointment = make_appointment(start=at(days=1))
    patient = appointment.patient
    patient.allergies.create(substance="Penicillin", severity="severe")
    patient.medications.create(name="Metformin")
    return {
        Appointment: appointment,
        type(patient): patient,
        type(appointment.doctor): appointment.doctor,
        type(patient.user): patient.user,
    }


def test_every_admin_page_renders_for_clinic_staff(staff_client, clinic_objects):
    urls = list(_admin_urls(clinic_objects))
    assert len(urls) >= 11  # four models with change pages, a few more without
    for url in urls:
        response = staff_client.get(url)
        assert response.status_code == 200, url


def test_patients_and_doctors_are_refused_the_admin(client, clinic_objects):
    for user in (clinic_objects[Appointment].patient.user, clinic_objects[Appointment].doctor.user):
        client.force_login(user)
        for url in [reverse("admin:index"), *_admin_urls(clinic_objects)]:
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith(reverse("admin:login"))


def test_appointments_are_searchable_by_patient_name_and_mrn(staff_client):
    patient = make_patient(last_name="Fujimoto")
    wanted = make_appointment(patient=patient, start=at(days=1))
    unwanted = make_appointment(start=at(days=2))
    url = reverse("admin:visits_appointment_changelist")
    for term in ("Fujimoto", patient.medical_record_number):
        page = staff_client.get(url, {"q": term})
        assert list(page.context["cl"].result_list) == [wanted], term
    del unwanted


def test_appointment_list_filters_by_status_and_doctor(staff_client):
    confirmed = make_appointment(start=at(days=1), status="confirmed")
    make_appointment(start=at(days=1))
    url = reverse("admin:visits_appointment_changelist")
    by_status = staff_client.get(url, {"status__exact": "confirmed"})
    assert list(by_status.context["cl"].result_list) == [confirmed]
    by_doctor = staff_client.get(url, {"doctor__id__exact": confirmed.doctor_id})
    assert list(by_doctor.context["cl"].result_list) == [confirmed]


def test_patient_page_edits_allergies_and_medications_inline(staff_client, clinic_objects):
    patient = clinic_objects[Appointment].patient
    page = staff_client.get(reverse("admin:visits_patient_change", args=[patient.pk]))
    formset_names = {formset.formset.prefix for formset in page.context["inline_admin_formsets"]}
    assert {"allergies", "medications", "conditions"} <= formset_names
    assert b"Penicillin" in page.content


def _appointment_form(doctor, patient, start, end=None):
    data = {
        "doctor": doctor.pk,
        "patient": patient.pk,
        "start_0": start.strftime("%Y-%m-%d"),
        "start_1": start.strftime("%H:%M:%S"),
        "end_0": end.strftime("%Y-%m-%d") if end else "",
        "end_1": end.strftime("%H:%M:%S") if end else "",
        "reason": "Booked at the desk",
        "status": "confirmed",
        "cancellation_reason": "",
    }
    return data


def test_staff_booking_fills_in_the_end_and_refuses_overlaps(staff_client):
    doctor = make_doctor(appointment_length_minutes=30)
    patient = make_patient()
    start = at(days=1)
    url = reverse("admin:visits_appointment_add")
    created = staff_client.post(url, _appointment_form(doctor, patient, start))
    assert created.status_code == 302, created.context["adminform"].form.errors
    appointment = Appointment.objects.get()
    assert appointment.end - appointment.start == timedelta(minutes=30)

    clash = staff_client.post(
        url, _appointment_form(doctor, make_patient(), start + timedelta(minutes=10))
    )
    assert clash.status_code == 200
    assert "already has an appointment" in str(clash.context["adminform"].form.non_field_errors())
    assert Appointment.objects.count() == 1


def test_working_hours_are_managed_on_the_doctor_page(staff_client):
    doctor = make_doctor(weekdays=[0])
    page = staff_client.get(reverse("admin:visits_doctor_change", args=[doctor.pk]))
    assert "working_hours" in {f.formset.prefix for f in page.context["inline_admin_formsets"]}


def _user_change_form(user, **changes):
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "role": user.role,
        "is_active": "on",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "groups": [],
        "user_permissions": [],
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_role_decides_admin_rights_whatever_is_ticked(staff_client):
    patient_user = make_patient().user
    url = reverse("admin:visits_user_change", args=[patient_user.pk])
    # Ticking "staff status" on a patient is a mistake the role overrides.
    response = staff_client.post(url, _user_change_form(patient_user, is_staff="on"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    patient_user.refresh_from_db()
    assert patient_user.is_staff is False

    # Only a superuser gives the clinic staff role (tests/admin/test_user_admin_rules.py).
    superuser = make_user(Role.ADMIN)
    superuser.is_superuser = True
    superuser.save()
    staff_client.force_login(superuser)
    promoted = make_user(Role.DOCTOR)
    url = reverse("admin:visits_user_change", args=[promoted.pk])
    response = staff_client.post(url, _user_change_form(promoted, role=Role.ADMIN))
    assert response.status_code == 302, response.context["adminform"].form.errors
    promoted.refresh_from_db()
    assert promoted.is_staff
    assert promoted.groups.filter(name="Clinic staff").exists()
    assert promoted.has_perm("visits.change_appointment")


def test_clinic_staff_cannot_make_themselves_superusers(staff_client):
    me = User.objects.get(pk=staff_client.session["_auth_user_id"])
    url = reverse("admin:visits_user_change", args=[me.pk])
    response = staff_client.post(url, _user_change_form(me, is_superuser="on"))
    assert response.status_code == 403  # their own account is read-only to them
    me.refresh_from_db()
    assert me.is_superuser is False
