"""The appointment admin goes through the services: saves take the booking's overlap check under
its lock (and a clash only the database sees is a message, not a 500); the status is read-only
in the form and moves only through list actions that run the state machine."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from tests.factories import at, make_admin, make_appointment, make_doctor, make_patient
from visits.models import AccessLogEntry, Appointment, AppointmentStatus
from visits.services import TRANSITIONS
from visits.services.access_log import chain_verify
from visits.services.appointments import SLOT_TAKEN

pytestmark = pytest.mark.django_db

S = AppointmentStatus


@pytest.fixture
def staff_client(client):
    client.force_login(make_admin())
    return client


def _form(appointment_or_none=None, *, doctor=None, patient=None, start=None, **changes):
    source = appointment_or_none
    doctor = doctor or source.doctor
    patient = patient or source.patient
    start = start or source.start
    end = changes.pop("end", source.end if source else None)
    data = {
        "doctor": doctor.pk,
        "patient": patient.pk,
        "start_0": start.strftime("%Y-%m-%d"),
        "start_1": start.strftime("%H:%M:%S"),
        "end_0": end.strftime("%Y-%m-%d") if end else "",
        "end_1": end.strftime("%H:%M:%S") if end else "",
        "reason": source.reason if source else "Booked at the desk",
        # What a form with a status field would send; the admin ignores it.
        "status": source.status if source else S.REQUESTED,
        "cancellation_reason": "",
    }
    data.update(changes)
    return data


def _non_field_errors(response) -> list[str]:
    return list(response.context["adminform"].form.non_field_errors())


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- Saving ------------------------------------------------------------------------------------


def test_adding_an_overlapping_appointment_is_refused_with_the_services_message(staff_client):
    taken = make_appointment(start=at(days=1))
    response = staff_client.post(
        reverse("admin:visits_appointment_add"),
        _form(
            doctor=taken.doctor, patient=make_patient(), start=taken.start + timedelta(minutes=5)
        ),
    )
    assert response.status_code == 200
    assert _non_field_errors(response) == [SLOT_TAKEN]
    assert Appointment.objects.count() == 1


def test_moving_an_appointment_onto_another_is_refused_with_the_services_message(staff_client):
    doctor = make_doctor()
    taken = make_appointment(doctor=doctor, start=at(days=1))
    moved = make_appointment(doctor=doctor, start=at(days=2))
    booked_start = moved.start
    url = reverse("admin:visits_appointment_change", args=[moved.pk])
    response = staff_client.post(url, _form(moved, start=taken.start, end=taken.end))
    assert response.status_code == 200
    assert _non_field_errors(response) == [SLOT_TAKEN]
    moved.refresh_from_db()
    assert moved.start == booked_start


def test_a_clash_only_the_database_sees_is_a_message_not_a_500(staff_client, monkeypatch):
    # Every check before the database misses the clash, as when another booking lands between
    # the check and the insert: the database rule refuses it, and the admin says so.
    none = lambda **kwargs: Appointment.objects.none()  # noqa: E731
    monkeypatch.setattr("visits.services.appointments.appointments_overlapping", none)
    monkeypatch.setattr("visits.admin.appointments_overlapping", none, raising=False)
    taken = make_appointment(start=at(days=1))
    response = staff_client.post(
        reverse("admin:visits_appointment_add"),
        _form(doctor=taken.doctor, patient=make_patient(), start=taken.start),
    )
    assert response.status_code == 200
    assert _non_field_errors(response) == [SLOT_TAKEN]
    assert list(Appointment.objects.all()) == [taken]


def test_a_saved_change_is_logged_once_and_keeps_the_status(staff_client):
    appointment = make_appointment(start=at(days=1), status=S.CONFIRMED)
    url = reverse("admin:visits_appointment_change", args=[appointment.pk])
    response = staff_client.post(url, _form(appointment, reason="Follow-up", status=S.COMPLETED))
    assert response.status_code == 302, _non_field_errors(response)
    appointment.refresh_from_db()
    assert (appointment.reason, appointment.status) == ("Follow-up", S.CONFIRMED)
    updates = AccessLogEntry.objects.filter(action="update", appointment=appointment)
    assert updates.count() == 1


# --- Status -----------------------------------------------------------------------------------


def test_status_is_read_only_in_the_form(staff_client):
    appointment = make_appointment(start=at(days=1), status=S.CONFIRMED)
    for url in (
        reverse("admin:visits_appointment_change", args=[appointment.pk]),
        reverse("admin:visits_appointment_add"),
    ):
        page = staff_client.get(url)
        assert "status" not in page.context["adminform"].form.fields, url
        assert "cancellation_reason" not in page.context["adminform"].form.fields, url
    doctor = make_doctor()
    created = staff_client.post(
        reverse("admin:visits_appointment_add"),
        _form(doctor=doctor, patient=make_patient(), start=at(days=3), status=S.COMPLETED),
    )
    assert created.status_code == 302, _non_field_errors(created)
    assert Appointment.objects.get(doctor=doctor).status == S.REQUESTED


def _run_action(client, action: str, appointments, **extra):
    return client.post(
        reverse("admin:visits_appointment_changelist"),
        {
            "action": action,
            "_selected_action": [appointment.pk for appointment in appointments],
            **extra,
        },
        follow=True,
    )


def test_the_actions_are_the_state_machines_transitions(staff_client):
    page = staff_client.get(reverse("admin:visits_appointment_changelist"))
    offered = {name for name, _label in page.context["action_form"].fields["action"].choices}
    assert set(TRANSITIONS) <= offered
    labels = dict(page.context["action_form"].fields["action"].choices)
    assert labels["check_in"] == "Check in selected appointments"
    assert labels["no_show"] == "No-show selected appointments"


@pytest.mark.parametrize(
    ("action", "source", "starts_in_minutes", "target"),
    [
        ("confirm", S.REQUESTED, 24 * 60, S.CONFIRMED),
        ("check_in", S.CONFIRMED, 10, S.CHECKED_IN),
        ("start", S.CHECKED_IN, 10, S.IN_PROGRESS),
        ("complete", S.IN_PROGRESS, -10, S.COMPLETED),
        ("no_show", S.CONFIRMED, -10, S.NO_SHOW),
    ],
)
def test_an_action_moves_the_appointment_along_the_state_machine(
    staff_client, action, source, starts_in_minutes, target
):
    appointment = make_appointment(start=at(minutes=starts_in_minutes), status=source)
    response = _run_action(staff_client, action, [appointment])
    appointment.refresh_from_db()
    assert appointment.status == target, _messages(response)
    assert AccessLogEntry.objects.filter(action="update", appointment=appointment).count() == 1


def test_an_illegal_transition_is_refused_with_the_state_machines_message(staff_client):
    requested = make_appointment(start=at(days=1))
    future = make_appointment(start=at(days=2), status=S.CONFIRMED)
    response = _run_action(staff_client, "check_in", [requested])
    assert any(
        "Cannot check-in an appointment that is requested." in m for m in _messages(response)
    )
    response = _run_action(staff_client, "complete", [future])
    assert any("Cannot complete an appointment before it starts." in m for m in _messages(response))
    requested.refresh_from_db()
    future.refresh_from_db()
    assert (requested.status, future.status) == (S.REQUESTED, S.CONFIRMED)


def test_cancelling_needs_a_reason_and_records_it(staff_client):
    appointment = make_appointment(start=at(days=1), status=S.CONFIRMED)
    refused = _run_action(staff_client, "cancel", [appointment])
    assert any("Please give a reason for cancelling." in m for m in _messages(refused))
    appointment.refresh_from_db()
    assert appointment.status == S.CONFIRMED

    _run_action(staff_client, "cancel", [appointment], reason="Doctor unwell")
    appointment.refresh_from_db()
    assert (appointment.status, appointment.cancellation_reason) == (S.CANCELLED, "Doctor unwell")


def test_one_refusal_does_not_stop_the_rest_of_the_selection(staff_client):
    requested = make_appointment(start=at(days=1))
    confirmed = make_appointment(start=at(days=2), status=S.CONFIRMED)
    response = _run_action(staff_client, "confirm", [requested, confirmed])
    requested.refresh_from_db()
    assert requested.status == S.CONFIRMED
    assert any("Cannot confirm an appointment that is confirmed." in m for m in _messages(response))
    assert any("1 appointment now confirmed." in m for m in _messages(response))


# --- The access log -----------------------------------------------------------------------------


def test_adding_and_deleting_an_appointment_are_logged(staff_client):
    patient = make_patient()
    response = staff_client.post(
        reverse("admin:visits_appointment_add"),
        _form(doctor=make_doctor(), patient=patient, start=at(days=1), end=at(days=1, minutes=30)),
    )
    assert response.status_code == 302, _non_field_errors(response)
    appointment = Appointment.objects.get()
    delete = reverse("admin:visits_appointment_delete", args=[appointment.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 302
    assert not Appointment.objects.exists()
    logged = AccessLogEntry.objects.filter(what="appointment").order_by("pk")
    # The log keeps the deleted appointment's number.
    assert list(logged.values_list("action", "patient", "appointment_id")) == [
        ("create", patient.pk, appointment.pk),
        ("delete", patient.pk, appointment.pk),
    ]
    assert chain_verify().broken_at is None  # the deletion changed no entry
