"""Booking and managing appointments over the API: the caller's own list, booking with its
400s and 409s, and the one state machine behind cancel, reschedule, confirm, complete and
no-show."""

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import (
    at,
    bearer,
    make_admin,
    make_appointment,
    make_doctor,
    make_patient,
    next_day,
    slot_at,
)
from visits.models import Appointment, Doctor

pytestmark = pytest.mark.django_db

APPOINTMENTS = "/api/appointments/"
SLOT_TAKEN = "That time is no longer free: the doctor already has an appointment then."


def _detail(appointment_id: int, action: str = "") -> str:
    return f"{APPOINTMENTS}{appointment_id}/" + (f"{action}/" if action else "")


@pytest.fixture
def patient():
    return make_patient()


@pytest.fixture
def doctor():
    return make_doctor()  # UTC, every day 08:00-18:00, 20-minute slots


@pytest.fixture
def day():
    return next_day(days=2)


def _book(api, doctor, start, reason="Sore throat", **more):
    body = {"doctor": doctor.id if isinstance(doctor, Doctor) else doctor, "reason": reason}
    body["start"] = start.isoformat() if isinstance(start, datetime) else start
    return api.post(APPOINTMENTS, {**body, **more})


# --- POST /api/appointments/ -----------------------------------------------------------------


def test_a_patient_books_a_free_slot_for_themself(api, patient, doctor, day):
    start = slot_at(day, 10)
    response = _book(api.as_user(patient.user), doctor, start)
    assert response.status_code == 201, response.content
    body = response.json()
    appointment = Appointment.objects.get()
    assert body == {
        "id": appointment.id,
        "doctor": doctor.id,
        "patient": patient.id,
        "start": f"{day}T10:00:00+00:00",
        "end": f"{day}T10:20:00+00:00",
        "status": "requested",
        "reason": "Sore throat",
        "cancellation_reason": "",
        "room_url": f"http://testserver/visits/{appointment.room_id}/",
    }
    assert (appointment.patient, appointment.start) == (patient, start)


def test_times_are_given_back_in_the_doctors_zone_whatever_offset_was_sent(api, patient, day):
    tokyo = make_doctor(time_zone="Asia/Tokyo")
    # 10:00 in Tokyo, sent as UTC (01:00Z).
    sent = slot_at(day, 1).isoformat().replace("+00:00", "Z")
    response = _book(api.as_user(patient.user), tokyo, sent)
    assert response.status_code == 201, response.content
    assert response.json()["start"] == f"{day}T10:00:00+09:00"
    assert response.json()["end"] == f"{day}T10:20:00+09:00"
    stored = Appointment.objects.get().start
    assert stored == datetime.fromisoformat(f"{day}T01:00:00+00:00")


def test_clinic_staff_book_for_the_patient_they_name(api, patient, doctor, day):
    response = _book(api.as_user(make_admin()), doctor, slot_at(day, 11), patient=patient.id)
    assert response.status_code == 201, response.content
    assert response.json()["patient"] == patient.id
    assert response.json()["status"] == "requested"


def test_clinic_staff_must_name_a_patient_that_exists(api, doctor, day):
    staff = api.as_user(make_admin())
    missing = _book(staff, doctor, slot_at(day, 11))
    assert missing.status_code == 400
    assert missing.json() == {"patient": ["Clinic staff must say which patient to book."]}
    unknown = _book(staff, doctor, slot_at(day, 11), patient=987654)
    assert unknown.status_code == 400
    assert unknown.json() == {"patient": ["Unknown patient."]}
    assert not Appointment.objects.exists()


def test_doctors_may_not_book(api, doctor, day):
    other = make_doctor()
    response = _book(api.as_user(other.user), doctor, slot_at(day, 10))
    assert response.status_code == 403
    assert "detail" in response.json()
    assert not Appointment.objects.exists()


def test_patients_book_only_for_themselves(api, patient, doctor, day):
    other = make_patient()
    response = _book(api.as_user(patient.user), doctor, slot_at(day, 10), patient=other.id)
    assert response.status_code == 400
    assert response.json() == {"patient": ["Patients can only book for themselves."]}
    # Naming themself is fine.
    ok = _book(api.as_user(patient.user), doctor, slot_at(day, 10), patient=patient.id)
    assert ok.status_code == 201


def test_a_taken_slot_is_a_409_and_books_nothing(api, patient, doctor, day):
    make_appointment(doctor=doctor, start=slot_at(day, 10))
    response = _book(api.as_user(patient.user), doctor, slot_at(day, 10))
    assert response.status_code == 409
    assert response.json() == {"detail": SLOT_TAKEN}
    assert Appointment.objects.count() == 1


def test_a_slot_freed_by_a_cancellation_can_be_booked_again(api, patient, doctor, day):
    first = make_appointment(doctor=doctor, start=slot_at(day, 10))
    first.status = "cancelled"
    first.save()
    assert _book(api.as_user(patient.user), doctor, slot_at(day, 10)).status_code == 201


@pytest.mark.parametrize(
    ("start", "message"),
    [
        (lambda day: slot_at(day, 10, 7), "is not one of"),  # misaligned
        (lambda day: slot_at(day, 7, 40), "is not one of"),  # before hours
        (lambda day: slot_at(day, 18), "is not one of"),  # the end of the day is no slot
        (lambda day: slot_at(day, 21), "is not one of"),  # after hours
        (lambda day: slot_at(day - timedelta(days=4), 10), "in the past"),
        (lambda day: slot_at(day + timedelta(days=400), 10), "at most a year ahead"),
    ],
    ids=["misaligned", "before-hours", "closing-time", "after-hours", "past", "too-far-ahead"],
)
def test_a_start_that_is_not_one_of_the_doctors_slots_is_400(
    api, patient, doctor, day, start, message
):
    response = _book(api.as_user(patient.user), doctor, start(day))
    assert response.status_code == 400
    assert list(response.json()) == ["start"]
    assert message in response.json()["start"][0]
    assert not Appointment.objects.exists()


def test_the_message_for_a_non_slot_says_where_to_find_slots(api, patient, doctor, day):
    response = _book(api.as_user(patient.user), doctor, slot_at(day, 10, 7))
    assert response.json()["start"][0] == (
        f"{day} 10:07 (UTC) is not one of {doctor.display_name}'s appointment slots; "
        f"list them at /api/doctors/{doctor.id}/slots/?date={day}."
    )


def test_a_day_off_has_no_slot_to_book(api, patient, day):
    doctor = make_doctor(weekdays=[(day.weekday() + 1) % 7])
    response = _book(api.as_user(patient.user), doctor, slot_at(day, 10))
    assert response.status_code == 400 and "is not one of" in response.json()["start"][0]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"doctor": 987654}, "doctor", "Unknown doctor."),
        ({"doctor": 0}, "doctor", "greater than or equal to 1"),
        ({"doctor": "abc"}, "doctor", "valid integer"),
        ({"doctor": None}, "doctor", "may not be null"),
        ({"reason": "x" * 501}, "reason", "no more than 500 characters"),
        ({"reason": ""}, "reason", "may not be blank"),
        ({"reason": "   "}, "reason", "may not be blank"),
        ({"start": "2030-02-30T10:00:00+00:00"}, "start", "wrong format"),
        ({"start": "next tuesday"}, "start", "wrong format"),
        ({"start": "2030-01-15T10:00:00"}, "start", "UTC offset"),  # naive
        ({"start": "9999-12-31T23:59:59-12:00"}, "start", "out of range"),  # past 9999 in UTC
        ({"patient": 0}, "patient", "greater than or equal to 1"),
    ],
)
def test_every_booking_input_is_validated(api, patient, doctor, day, change, field, message):
    body = {"doctor": doctor.id, "start": slot_at(day, 10).isoformat(), "reason": "Cough"}
    response = api.as_user(patient.user).post(APPOINTMENTS, {**body, **change})
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert message in response.json()[field][0]
    assert not Appointment.objects.exists()


def test_a_body_that_is_not_an_object_is_400(api, patient):
    response = api.as_user(patient.user).post(APPOINTMENTS, ["doctor", 1])
    assert response.status_code == 400
    assert "Expected a dictionary" in response.json()["non_field_errors"][0]


def test_missing_booking_fields_are_each_reported(api, patient):
    response = api.as_user(patient.user).post(APPOINTMENTS, {})
    assert response.status_code == 400
    assert set(response.json()) == {"doctor", "start", "reason"}


def test_an_inactive_doctor_cannot_be_booked(api, patient, doctor, day):
    Doctor.objects.filter(pk=doctor.pk).update(is_active=False)
    response = _book(api.as_user(patient.user), doctor, slot_at(day, 10))
    assert response.status_code == 400
    assert response.json() == {"doctor": ["Unknown doctor."]}


def test_a_reason_of_exactly_500_characters_is_fine(api, patient, doctor, day):
    response = _book(api.as_user(patient.user), doctor, slot_at(day, 10), reason="x" * 500)
    assert response.status_code == 201


def test_a_body_that_is_not_json_is_400(api, patient):
    response = api.client.post(
        APPOINTMENTS, "{not json", content_type="application/json", headers=bearer(patient.user)
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


# --- GET /api/appointments/ ------------------------------------------------------------------


@pytest.fixture
def two_patients_two_doctors():
    a, b = make_patient(), make_patient()
    x, y = make_doctor(), make_doctor()
    rows = {
        "a_x_late": make_appointment(patient=a, doctor=x, start=at(days=5)),
        "a_y_early": make_appointment(patient=a, doctor=y, start=at(days=1)),
        "b_x": make_appointment(patient=b, doctor=x, start=at(days=3)),
        "b_y": make_appointment(patient=b, doctor=y, start=at(days=4)),
    }
    return a, b, x, y, rows


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_each_caller_lists_their_own_appointments_by_start(api, two_patients_two_doctors):
    a, b, x, _y, rows = two_patients_two_doctors
    assert _ids(api.as_user(a.user).get(APPOINTMENTS)) == [
        rows["a_y_early"].id,
        rows["a_x_late"].id,
    ]
    assert _ids(api.as_user(b.user).get(APPOINTMENTS)) == [rows["b_x"].id, rows["b_y"].id]
    assert _ids(api.as_user(x.user).get(APPOINTMENTS)) == [rows["b_x"].id, rows["a_x_late"].id]
    everyone = [rows[k].id for k in ("a_y_early", "b_x", "b_y", "a_x_late")]
    assert _ids(api.as_user(make_admin()).get(APPOINTMENTS)) == everyone


def test_the_list_is_a_page(api, two_patients_two_doctors):
    a, *_ = two_patients_two_doctors
    body = api.as_user(a.user).get(APPOINTMENTS, {"page_size": 1}).json()
    assert body["count"] == 2 and len(body["results"]) == 1
    assert body["next"] and body["previous"] is None


def test_the_list_filters_by_status(api, two_patients_two_doctors):
    a, _, _, _, rows = two_patients_two_doctors
    Appointment.objects.filter(pk=rows["a_x_late"].pk).update(status="confirmed")
    confirmed = api.as_user(a.user).get(APPOINTMENTS, {"status": "confirmed"})
    assert _ids(confirmed) == [rows["a_x_late"].id]
    assert _ids(api.as_user(a.user).get(APPOINTMENTS, {"status": "completed"})) == []


def test_date_from_and_date_to_are_inclusive_utc_days(api, patient):
    day = next_day(days=3)
    tokyo = make_doctor(time_zone="Asia/Tokyo")
    x = make_doctor()
    on_day = [
        make_appointment(patient=patient, doctor=x, start=slot_at(day, 0)),
        # 23:40 UTC is already the next day in Tokyo, but the filter counts UTC days.
        make_appointment(patient=patient, doctor=tokyo, start=slot_at(day, 23, 40)),
    ]
    make_appointment(patient=patient, doctor=x, start=slot_at(day + timedelta(days=1), 0))
    make_appointment(patient=patient, doctor=x, start=slot_at(day, 0) - timedelta(minutes=20))
    caller = api.as_user(patient.user)
    same_day = caller.get(APPOINTMENTS, {"date_from": str(day), "date_to": str(day)})
    assert _ids(same_day) == [a.id for a in on_day]
    assert len(_ids(caller.get(APPOINTMENTS, {"date_from": str(day)}))) == 3
    assert len(_ids(caller.get(APPOINTMENTS, {"date_to": str(day)}))) == 3
    # The calendar's last day is a valid (if open-ended) bound.
    assert len(_ids(caller.get(APPOINTMENTS, {"date_to": "9999-12-31"}))) == 4
    assert len(_ids(caller.get(APPOINTMENTS, {"date_from": "0001-01-01"}))) == 4


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "teleported"}, "status"),
        ({"date_from": "2030-02-30"}, "date_from"),
        ({"date_to": "yesterday"}, "date_to"),
        ({"date_from": "2030-01-02", "date_to": "2030-01-01"}, "date_to"),
    ],
)
def test_list_filters_are_validated(api, patient, params, field):
    response = api.as_user(patient.user).get(APPOINTMENTS, params)
    assert response.status_code == 400
    assert list(response.json()) == [field]


def _count_queries(call) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = call()
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("caller", ["patient", "doctor", "admin"])
def test_the_list_costs_the_same_queries_for_3_or_30_appointments(
    api, caller, django_assert_max_num_queries
):
    patient, doctor = make_patient(), make_doctor()
    user = {"patient": patient.user, "doctor": doctor.user, "admin": make_admin()}[caller]
    start = slot_at(next_day(days=2), 8)

    def add(count, offset):
        for n in range(offset, offset + count):
            make_appointment(
                patient=patient, doctor=doctor, start=start + timedelta(minutes=20 * n)
            )

    add(3, 0)
    params = {"page_size": 100}
    few = _count_queries(lambda: api.as_user(user).get(APPOINTMENTS, params))
    add(27, 3)
    with django_assert_max_num_queries(few):
        response = api.as_user(user).get(APPOINTMENTS, params)
    assert len(response.json()["results"]) == 30


# --- GET /api/appointments/{id}/ -------------------------------------------------------------


def test_the_detail_is_for_its_patient_its_doctor_and_staff_only(api):
    appointment = make_appointment(start=at(days=2))
    for user in (appointment.patient.user, appointment.doctor.user, make_admin()):
        response = api.as_user(user).get(_detail(appointment.id))
        assert response.status_code == 200
        assert response.json()["id"] == appointment.id
    for stranger in (make_patient().user, make_doctor().user):
        response = api.as_user(stranger).get(_detail(appointment.id))
        assert response.status_code == 404  # not 403: its existence is not the caller's business
        assert response.json() == {"detail": "No such appointment."}


def test_an_unknown_appointment_is_404_in_json(api, patient):
    caller = api.as_user(patient.user)
    assert caller.get(_detail(987654)).status_code == 404
    assert caller.get(_detail(2**70)).status_code == 404  # beyond any database integer
    # A newline in the path too (the schema fuzz found one under /api/recordings/).
    unknown = (f"{APPOINTMENTS}abc/", f"{APPOINTMENTS}-1/cancel/", "/api/recordings/x%0A/media/")
    for path in unknown:
        response = caller.get(path)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"


# --- Transitions -------------------------------------------------------------------------------


def _future(status="requested", **fields):
    return make_appointment(start=at(days=2), status=status, **fields)


def _started(status="confirmed", **fields):
    return make_appointment(start=at(minutes=-10), status=status, **fields)


def test_cancel_needs_a_reason_and_records_it(api):
    appointment = _future()
    caller = api.as_user(appointment.patient.user)
    for body, message in [
        ({}, "required"),
        ({"reason": "  "}, "blank"),
        ({"reason": "x" * 501}, "500"),
    ]:
        response = caller.post(_detail(appointment.id, "cancel"), body)
        assert response.status_code == 400
        assert message in response.json()["reason"][0]
    response = caller.post(_detail(appointment.id, "cancel"), {"reason": "Feeling better"})
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancellation_reason"] == "Feeling better"
    appointment.refresh_from_db()
    assert appointment.status == "cancelled"


def test_cancelling_twice_is_409_naming_the_current_status(api):
    appointment = _future(status="cancelled")
    response = api.as_user(appointment.patient.user).post(
        _detail(appointment.id, "cancel"), {"reason": "Again"}
    )
    assert response.status_code == 409
    assert response.json() == {"detail": "Cannot cancel an appointment that is cancelled."}


def test_cancelling_frees_the_slot(api):
    appointment = make_appointment(start=slot_at(next_day(days=2), 10))
    start = appointment.start
    api.as_user(appointment.doctor.user).post(_detail(appointment.id, "cancel"), {"reason": "Ill"})
    slots = api.as_user(appointment.patient.user).get(
        f"/api/doctors/{appointment.doctor.id}/slots/", {"date": str(start.date())}
    )
    assert any(datetime.fromisoformat(s["start"]) == start for s in slots.json()["slots"])


def test_the_doctor_confirms_a_requested_visit_once(api):
    appointment = _future()
    caller = api.as_user(appointment.doctor.user)
    response = caller.post(_detail(appointment.id, "confirm"))
    assert response.status_code == 200 and response.json()["status"] == "confirmed"
    again = caller.post(_detail(appointment.id, "confirm"))
    assert again.status_code == 409
    assert again.json() == {"detail": "Cannot confirm an appointment that is confirmed."}


def test_clinic_staff_may_confirm(api):
    appointment = _future()
    response = api.as_user(make_admin()).post(_detail(appointment.id, "confirm"))
    assert response.status_code == 200 and response.json()["status"] == "confirmed"


@pytest.mark.parametrize("action", ["confirm", "complete", "no-show"])
def test_a_patient_calling_a_doctors_action_on_their_own_visit_is_403(api, action):
    appointment = _started(status="requested")
    response = api.as_user(appointment.patient.user).post(_detail(appointment.id, action))
    assert response.status_code == 403
    appointment.refresh_from_db()
    assert appointment.status == "requested"


@pytest.mark.parametrize("action", ["confirm", "complete", "no-show", "cancel", "reschedule"])
def test_strangers_get_404_for_every_action(api, action):
    appointment = _started(status="requested")
    body = {"reason": "x", "start": slot_at(next_day(days=2), 10).isoformat()}
    for stranger in (make_patient().user, make_doctor().user):
        response = api.as_user(stranger).post(_detail(appointment.id, action), body)
        assert response.status_code == 404
        assert response.json() == {"detail": "No such appointment."}
    appointment.refresh_from_db()
    assert (appointment.status, appointment.start) == ("requested", appointment.start)


@pytest.mark.parametrize("action", ["complete", "no-show"])
def test_complete_and_no_show_before_the_start_are_409(api, action):
    appointment = _future(status="confirmed")
    response = api.as_user(appointment.doctor.user).post(_detail(appointment.id, action))
    assert response.status_code == 409
    verb = action
    assert response.json() == {"detail": f"Cannot {verb} an appointment before it starts."}


def test_the_doctor_completes_a_started_visit(api):
    appointment = _started()
    response = api.as_user(appointment.doctor.user).post(_detail(appointment.id, "complete"))
    assert response.status_code == 200 and response.json()["status"] == "completed"


def test_the_doctor_records_a_no_show_after_the_start(api):
    appointment = _started(status="requested")
    response = api.as_user(appointment.doctor.user).post(_detail(appointment.id, "no-show"))
    assert response.status_code == 200 and response.json()["status"] == "no_show"


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("requested", "complete"),
        ("completed", "complete"),
        ("cancelled", "confirm"),
        ("completed", "no-show"),
        ("no_show", "cancel"),
        ("completed", "cancel"),
    ],
)
def test_forbidden_transitions_are_409_naming_the_current_status(api, status, action):
    appointment = _started(status=status)
    response = api.as_user(appointment.doctor.user).post(
        _detail(appointment.id, action), {"reason": "Because"}
    )
    assert response.status_code == 409
    assert response.json()["detail"] == f"Cannot {action} an appointment that is {status}."
    appointment.refresh_from_db()
    assert appointment.status == status


def _reschedule(api, user, appointment, start):
    value = start.isoformat() if isinstance(start, datetime) else start
    return api.as_user(user).post(_detail(appointment.id, "reschedule"), {"start": value})


def test_rescheduling_moves_the_visit_to_another_free_slot(api):
    day = next_day(days=2)
    appointment = make_appointment(start=slot_at(day, 10))
    response = _reschedule(api, appointment.patient.user, appointment, slot_at(day, 14))
    assert response.status_code == 200, response.content
    assert (response.json()["start"], response.json()["end"]) == (
        f"{day}T14:00:00+00:00",
        f"{day}T14:20:00+00:00",
    )
    assert response.json()["status"] == "requested"


def test_a_patient_moving_a_confirmed_visit_sends_it_back_to_requested(api):
    day = next_day(days=2)
    appointment = make_appointment(start=slot_at(day, 10), status="confirmed")
    response = _reschedule(api, appointment.patient.user, appointment, slot_at(day, 11))
    assert response.status_code == 200
    assert response.json()["status"] == "requested"


@pytest.mark.parametrize("who", ["doctor", "admin"])
def test_the_doctor_or_staff_moving_a_confirmed_visit_keeps_it_confirmed(api, who):
    day = next_day(days=2)
    appointment = make_appointment(start=slot_at(day, 10), status="confirmed")
    user = appointment.doctor.user if who == "doctor" else make_admin()
    response = _reschedule(api, user, appointment, slot_at(day, 11))
    assert response.status_code == 200
    assert response.json()["status"] == "confirmed"


def test_rescheduling_onto_a_taken_slot_is_409_and_changes_nothing(api):
    day = next_day(days=2)
    appointment = make_appointment(start=slot_at(day, 10))
    make_appointment(doctor=appointment.doctor, start=slot_at(day, 11))
    response = _reschedule(api, appointment.patient.user, appointment, slot_at(day, 11))
    assert response.status_code == 409
    assert response.json() == {"detail": SLOT_TAKEN}
    appointment.refresh_from_db()
    assert appointment.start == slot_at(day, 10)


@pytest.mark.parametrize(
    ("start", "message"),
    [
        (lambda day: slot_at(day, 10, 5), "is not one of"),
        (lambda day: slot_at(day, 22), "is not one of"),
        (lambda day: slot_at(day - timedelta(days=5), 10), "in the past"),
        (lambda day: f"{day}T11:00:00", "UTC offset"),
        (lambda day: f"{day}T25:00:00Z", "wrong format"),
    ],
)
def test_rescheduling_validates_the_new_start(api, start, message):
    day = next_day(days=2)
    appointment = make_appointment(start=slot_at(day, 10))
    response = _reschedule(api, appointment.patient.user, appointment, start(day))
    assert response.status_code == 400
    assert message in response.json()["start"][0]
    appointment.refresh_from_db()
    assert appointment.start == slot_at(day, 10)


@pytest.mark.parametrize("status", ["cancelled", "completed", "no_show", "checked_in"])
def test_only_requested_or_confirmed_visits_can_be_rescheduled(api, status):
    day = next_day(days=2)
    appointment = make_appointment(start=slot_at(day, 10), status=status)
    response = _reschedule(api, appointment.patient.user, appointment, slot_at(day, 12))
    assert response.status_code == 409
    assert response.json() == {"detail": f"Cannot reschedule an appointment that is {status}."}


def test_transitions_of_unknown_appointments_are_404(api, patient):
    response = api.as_user(patient.user).post(_detail(987654, "cancel"), {"reason": "x"})
    assert response.status_code == 404


def test_the_same_instant_in_another_offset_is_the_same_slot(api, patient):
    doctor = make_doctor()
    day = next_day(days=2)
    assert _book(api.as_user(patient.user), doctor, slot_at(day, 10)).status_code == 201
    same_instant = f"{day}T19:00:00+09:00"  # 10:00 UTC
    second = _book(api.as_user(make_patient().user), doctor, same_instant)
    assert second.status_code == 409
