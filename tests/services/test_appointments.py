import threading
from datetime import datetime, timedelta

import pytest
from django.db import close_old_connections, connection

from clinic.errors import ApplicationError, ConflictError
from tests.factories import at, make_appointment, make_doctor, make_patient
from visits.models import Appointment
from visits.services import appointment_create

pytestmark = pytest.mark.django_db


def test_end_defaults_to_the_doctors_appointment_length():
    doctor = make_doctor(appointment_length_minutes=30)
    appointment = make_appointment(doctor=doctor, start=at(days=2))
    assert appointment.end - appointment.start == timedelta(minutes=30)
    assert appointment.status == "requested"


def test_overlap_is_a_conflict_and_saves_nothing():
    first = make_appointment(start=at(days=1))
    with pytest.raises(ConflictError, match="already has an appointment"):
        appointment_create(
            doctor=first.doctor,
            patient=make_patient(),
            start=first.start + timedelta(minutes=5),
            reason="Overlap",
        )
    assert Appointment.objects.count() == 1


@pytest.mark.parametrize(
    ("start", "end", "reason", "message"),
    [
        (datetime(2030, 1, 1, 9, 0), None, "Checkup", "UTC offset"),
        (at(days=1), at(days=1), "Checkup", "end after"),
        (at(days=1), None, "   ", "reason"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(start, end, reason, message):
    with pytest.raises(ApplicationError, match=message):
        appointment_create(
            doctor=make_doctor(), patient=make_patient(), start=start, end=end, reason=reason
        )


def test_unknown_status_is_refused():
    with pytest.raises(Exception, match="status"):
        make_appointment(status="teleported")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="real concurrent writers need PostgreSQL (CI runs it)"
)
def test_concurrent_bookings_of_one_slot_produce_exactly_one_appointment():
    doctor = make_doctor()
    patients = [make_patient() for _ in range(12)]
    start = at(days=3)
    barrier = threading.Barrier(len(patients))
    outcomes: list[str] = []

    def book(patient):
        try:
            barrier.wait()
            appointment_create(doctor=doctor, patient=patient, start=start, reason="Race")
            outcomes.append("booked")
        except ConflictError:
            outcomes.append("conflict")
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=book, args=(p,)) for p in patients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["booked"] + ["conflict"] * (len(patients) - 1)
    assert Appointment.objects.filter(doctor=doctor).count() == 1
