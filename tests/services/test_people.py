from datetime import date, time

import pytest

from clinic.errors import ApplicationError
from tests.factories import make_doctor, make_patient, make_user
from visits.models import Patient, Role
from visits.models.patients import MRN_DIGITS, MRN_PREFIX
from visits.services import doctor_create, doctor_set_working_hours, patient_create, user_create

pytestmark = pytest.mark.django_db


def test_only_clinic_staff_get_admin_access():
    assert make_user(Role.ADMIN).is_staff
    assert not make_user(Role.DOCTOR).is_staff
    assert not make_user(Role.PATIENT).is_staff


def test_unknown_role_is_refused():
    with pytest.raises(ApplicationError, match="Unknown role"):
        user_create(username="x", password="pw-long-enough", role="nurse")


def test_doctor_profile_needs_a_doctor_user():
    with pytest.raises(ApplicationError, match="doctor role"):
        doctor_create(
            user=make_user(Role.PATIENT),
            display_name="Dr. No",
            specialty="GP",
            license_number="L-1",
        )


def test_doctor_defaults_to_twenty_minute_appointments_and_validates_time_zone():
    doctor = make_doctor(time_zone="Asia/Tokyo")
    assert doctor.appointment_length_minutes == 20
    with pytest.raises(Exception, match="IANA"):
        doctor_create(
            user=make_user(Role.DOCTOR),
            display_name="Dr. Z",
            specialty="GP",
            license_number="L-Z",
            time_zone="Mars/Olympus",
        )


def test_working_hours_hold_several_ranges_a_day_and_refuse_overlaps():
    doctor = make_doctor(weekdays=[])
    rows = doctor_set_working_hours(
        doctor=doctor, weekly_hours={0: [(time(13), time(17)), (time(9), time(12))]}
    )
    assert [(r.start_time, r.end_time) for r in rows] == [(time(9), time(12)), (time(13), time(17))]
    with pytest.raises(ApplicationError, match="overlap"):
        doctor_set_working_hours(
            doctor=doctor, weekly_hours={1: [(time(9), time(12)), (time(11), time(14))]}
        )
    with pytest.raises(ApplicationError, match="end after"):
        doctor_set_working_hours(doctor=doctor, weekly_hours={1: [(time(12), time(9))]})
    # A refused change leaves the previous hours in place.
    assert doctor.working_hours.count() == 2


def test_patients_get_a_unique_generated_medical_record_number():
    first, second = make_patient(), make_patient()
    for patient in (first, second):
        mrn = patient.medical_record_number
        assert mrn.startswith(MRN_PREFIX) and len(mrn) == len(MRN_PREFIX) + MRN_DIGITS
    assert first.medical_record_number != second.medical_record_number


def test_a_colliding_medical_record_number_is_drawn_again(monkeypatch):
    existing = make_patient()
    taken = int(existing.medical_record_number.removeprefix(MRN_PREFIX))
    draws = iter([taken, taken, 4242])
    monkeypatch.setattr("visits.models.patients.secrets.randbelow", lambda _: next(draws))
    patient = patient_create(user=make_user(Role.PATIENT), date_of_birth=date(1990, 5, 5))
    assert patient.medical_record_number == f"{MRN_PREFIX}{4242:0{MRN_DIGITS}d}"
    assert Patient.objects.count() == 2


def test_patient_profile_rules():
    with pytest.raises(ApplicationError, match="patient role"):
        patient_create(user=make_user(Role.DOCTOR), date_of_birth=date(1990, 1, 1))
    with pytest.raises(ApplicationError, match="future"):
        patient_create(user=make_user(Role.PATIENT), date_of_birth=date(2999, 1, 1))


def test_patient_chart_rows_are_structured():
    patient = make_patient()
    patient.allergies.create(substance="Latex", reaction="Contact dermatitis", severity="mild")
    patient.medications.create(name="Metformin", dose="500 mg", frequency="twice daily")
    patient.conditions.create(name="Type 2 diabetes", icd10_code="E11.9")
    assert str(patient.allergies.get()) == "Latex (Mild)"
    assert str(patient.medications.get()) == "Metformin 500 mg twice daily"
    assert patient.conditions.get().status == "active"
