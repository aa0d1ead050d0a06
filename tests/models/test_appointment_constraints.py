"""The overlap and time-order rules hold in the database itself, not only in Python.

Rows are written with the ORM's plain create()/save(), bypassing visits.services, so only the
database can refuse them. Runs on whichever database the suite is pointed at (CI: PostgreSQL).
"""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from tests.factories import at, make_appointment, make_doctor, make_patient
from visits.models import Appointment, AppointmentStatus

pytestmark = pytest.mark.django_db


def _raw_create(**fields) -> Appointment:
    with transaction.atomic():
        return Appointment.objects.create(**fields)


def test_database_rejects_overlapping_appointments_for_one_doctor():
    first = make_appointment(start=at(days=1))
    with pytest.raises(IntegrityError, match="appointment_no_overlap"):
        _raw_create(
            doctor=first.doctor,
            patient=make_patient(),
            start=first.start + timedelta(minutes=10),
            end=first.end + timedelta(minutes=10),
            reason="Squeezed in",
        )
    assert Appointment.objects.count() == 1


def test_database_rejects_an_appointment_that_encloses_another():
    inner = make_appointment(start=at(days=1, hours=1))
    with pytest.raises(IntegrityError):
        _raw_create(
            doctor=inner.doctor,
            patient=make_patient(),
            start=inner.start - timedelta(hours=1),
            end=inner.end + timedelta(hours=1),
            reason="Long block",
        )


def test_back_to_back_appointments_are_allowed():
    first = make_appointment(start=at(days=1))
    second = _raw_create(
        doctor=first.doctor,
        patient=make_patient(),
        start=first.end,
        end=first.end + timedelta(minutes=20),
        reason="Next patient",
    )
    assert second.pk


def test_other_doctors_and_cancelled_appointments_do_not_block():
    first = make_appointment(start=at(days=1))
    _raw_create(
        doctor=make_doctor(),
        patient=make_patient(),
        start=first.start,
        end=first.end,
        reason="Other doctor",
    )
    first.status = AppointmentStatus.CANCELLED
    first.save()
    replacement = _raw_create(
        doctor=first.doctor,
        patient=make_patient(),
        start=first.start,
        end=first.end,
        reason="Takes the freed slot",
    )
    assert replacement.pk


def test_database_rejects_moving_an_appointment_onto_another():
    first = make_appointment(start=at(days=1))
    second = make_appointment(doctor=first.doctor, start=first.end + timedelta(hours=1))
    second.start, second.end = first.start, first.end
    with pytest.raises(IntegrityError), transaction.atomic():
        second.save()


def test_database_rejects_reinstating_a_cancelled_appointment_into_a_taken_slot():
    first = make_appointment(start=at(days=1))
    first.status = AppointmentStatus.CANCELLED
    first.save()
    make_appointment(doctor=first.doctor, start=first.start)
    first.status = AppointmentStatus.CONFIRMED
    with pytest.raises(IntegrityError), transaction.atomic():
        first.save()


def test_database_rejects_end_before_start():
    doctor, patient = make_doctor(), make_patient()
    start = at(days=1)
    with pytest.raises(IntegrityError, match="appointment_end_after_start"):
        _raw_create(doctor=doctor, patient=patient, start=start, end=start, reason="Zero length")


def test_room_ids_are_unique_random_uuids():
    first, second = make_appointment(), make_appointment()
    assert first.room_id != second.room_id
    assert first.room_id.version == 4


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL catalogue check")
def test_postgresql_holds_an_exclusion_constraint():
    with connection.cursor() as cursor:
        cursor.execute("SELECT contype FROM pg_constraint WHERE conname = 'appointment_no_overlap'")
        assert cursor.fetchone() == ("x",)
