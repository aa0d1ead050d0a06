from datetime import UTC, date, datetime, timedelta

import pytest

from tests.factories import at, make_appointment, make_doctor, make_patient
from visits.selectors import (
    appointments_overlapping,
    clinic_overview,
    doctor_schedule_for_day,
    patient_past_appointments,
    patient_upcoming_appointments,
    room_join_window,
)

pytestmark = pytest.mark.django_db


def test_doctor_schedule_follows_the_doctors_time_zone():
    doctor = make_doctor(time_zone="Asia/Tokyo")  # UTC+9, no daylight saving
    late_utc = make_appointment(doctor=doctor, start=datetime(2031, 3, 3, 23, 30, tzinfo=UTC))
    early_utc = make_appointment(doctor=doctor, start=datetime(2031, 3, 3, 1, 0, tzinfo=UTC))
    # 23:30 UTC on the 3rd is 08:30 on the 4th in Tokyo.
    assert list(doctor_schedule_for_day(doctor=doctor, day=date(2031, 3, 4))) == [late_utc]
    assert list(doctor_schedule_for_day(doctor=doctor, day=date(2031, 3, 3))) == [early_utc]


def test_doctor_schedule_leaves_out_cancellations_and_other_doctors():
    doctor = make_doctor()
    kept = make_appointment(doctor=doctor, start=datetime(2031, 3, 3, 9, tzinfo=UTC))
    cancelled = make_appointment(doctor=doctor, start=datetime(2031, 3, 3, 10, tzinfo=UTC))
    cancelled.status = "cancelled"
    cancelled.save()
    make_appointment(start=datetime(2031, 3, 3, 9, tzinfo=UTC))
    assert list(doctor_schedule_for_day(doctor=doctor, day=date(2031, 3, 3))) == [kept]


def test_patient_upcoming_and_past_visits():
    patient = make_patient()
    now = at()
    past = make_appointment(patient=patient, start=now - timedelta(days=2))
    running = make_appointment(patient=patient, start=now - timedelta(minutes=10))
    later = make_appointment(patient=patient, start=now + timedelta(days=1))
    cancelled = make_appointment(patient=patient, start=now + timedelta(days=2))
    cancelled.status = "cancelled"
    cancelled.save()
    make_appointment(start=now + timedelta(hours=5))  # someone else's
    assert list(patient_upcoming_appointments(patient=patient, now=now)) == [running, later]
    assert list(patient_past_appointments(patient=patient, now=now)) == [past]


def test_overlap_query_treats_ranges_as_half_open():
    first = make_appointment(start=at(days=1))
    doctor = first.doctor
    assert not appointments_overlapping(
        doctor=doctor, start=first.end, end=first.end + timedelta(minutes=5)
    ).exists()
    assert appointments_overlapping(
        doctor=doctor, start=first.end - timedelta(minutes=1), end=first.end + timedelta(minutes=5)
    ).exists()
    assert not appointments_overlapping(
        doctor=doctor, start=first.start, end=first.end, exclude_id=first.pk
    ).exists()


@pytest.mark.parametrize(
    ("minutes_from_start", "status", "is_open"),
    [
        (-16, "confirmed", False),
        (-15, "confirmed", True),
        (0, "requested", True),
        (20 + 120, "in_progress", True),
        (20 + 121, "confirmed", False),
        (0, "cancelled", False),
        (0, "completed", False),
    ],
)
def test_room_join_window(minutes_from_start, status, is_open):
    appointment = make_appointment(start=at(days=1))  # 20 minutes long
    appointment.status = status
    window = room_join_window(
        appointment=appointment, now=appointment.start + timedelta(minutes=minutes_from_start)
    )
    assert window.is_open is is_open
    assert bool(window.reason) is not is_open


def test_clinic_overview_counts():
    now = at()
    make_appointment(start=now)
    make_patient()
    overview = clinic_overview(now=now)
    assert overview["appointments_today"] == 1
    assert overview["patients"] == 2
    assert overview["active_doctors"] == 1
    assert overview["awaiting_confirmation"] == 1


def test_the_join_window_says_when_it_opens_from_its_one_definition(monkeypatch):
    from visits import selectors

    monkeypatch.setattr(selectors, "JOIN_OPENS_BEFORE_START", timedelta(minutes=10))
    appointment = make_appointment(start=at(days=1))
    window = room_join_window(appointment=appointment, now=appointment.start - timedelta(hours=1))
    assert window.opens_at == appointment.start - timedelta(minutes=10)
    assert window.reason == "The room opens 10 minutes before the visit."
