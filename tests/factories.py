"""Builders for test data, all going through the service layer as real callers do."""

import itertools
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

from visits.apis.auth import RoleTokenObtainPairSerializer
from visits.models import Allergy, Appointment, Condition, Doctor, Medication, Patient, Role, User
from visits.services import (
    appointment_create,
    doctor_create,
    doctor_set_working_hours,
    patient_create,
    user_create,
)

PASSWORD = "correct-horse-battery"
_numbers = itertools.count(1)


def make_user(role: str = Role.PATIENT, **fields) -> User:
    number = next(_numbers)
    return user_create(
        username=fields.pop("username", f"{role}{number}"),
        password=fields.pop("password", PASSWORD),
        role=role,
        first_name=fields.pop("first_name", role.title()),
        last_name=fields.pop("last_name", f"Number{number}"),
        **fields,
    )


def make_admin(**fields) -> User:
    """Clinic staff: the `admin` role, no doctor or patient profile."""
    return make_user(Role.ADMIN, first_name=fields.pop("first_name", "Staff"), **fields)


def make_doctor(*, time_zone: str = "UTC", weekdays=range(7), **fields) -> Doctor:
    number = next(_numbers)
    user = make_user(Role.DOCTOR, last_name=fields.pop("last_name", f"Doc{number}"))
    doctor = doctor_create(
        user=user,
        display_name=fields.pop("display_name", f"Dr. {user.last_name}"),
        specialty=fields.pop("specialty", "Family medicine"),
        license_number=fields.pop("license_number", f"LIC-{number:05d}"),
        time_zone=time_zone,
        **fields,
    )
    doctor_set_working_hours(
        doctor=doctor, weekly_hours={d: [(time(8), time(18))] for d in weekdays}
    )
    return doctor


def make_patient(**fields) -> Patient:
    user = make_user(
        Role.PATIENT,
        first_name=fields.pop("first_name", "Pat"),
        last_name=fields.pop("last_name", f"Patient{next(_numbers)}"),
    )
    return patient_create(
        user=user, date_of_birth=fields.pop("date_of_birth", date(1980, 1, 1)), **fields
    )


def make_appointment(
    *,
    doctor: Doctor | None = None,
    patient: Patient | None = None,
    start: datetime | None = None,
    reason: str = "Persistent cough",
    **fields,
) -> Appointment:
    return appointment_create(
        doctor=doctor or make_doctor(),
        patient=patient or make_patient(),
        start=start or at(days=1),
        reason=reason,
        **fields,
    )


def at(*, days: int = 0, hours: int = 0, minutes: int = 0) -> datetime:
    """A whole-minute instant relative to now."""
    now = timezone.now().replace(second=0, microsecond=0)
    return now + timedelta(days=days, hours=hours, minutes=minutes)


def add_chart_entries(patient: Patient, *, count: int = 1) -> Patient:
    """`count` allergies, medications and conditions each (the chart has no service of its own;
    clinic staff enter these in the admin)."""
    for n in range(count):
        Allergy.objects.create(patient=patient, substance=f"Substance {n}", reaction="Rash")
        Medication.objects.create(patient=patient, name=f"Medicine {n}", dose="5 mg")
        Condition.objects.create(patient=patient, name=f"Condition {n}", icd10_code="J45")
    return patient


def tokens_for(user: User) -> dict[str, str]:
    """The token pair POST /api/auth/token/ would hand `user` (role claim included)."""
    refresh = RoleTokenObtainPairSerializer.get_token(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def bearer(user: User | None) -> dict[str, str]:
    """Headers for the test client: `user`'s access token, or nothing for an anonymous caller."""
    return {"Authorization": f"Bearer {tokens_for(user)['access']}"} if user else {}


def next_day(*, days: int = 1) -> date:
    """A calendar day (UTC) `days` from today."""
    return timezone.now().date() + timedelta(days=days)


def slot_at(day: date, hour: int, minute: int = 0, zone=None) -> datetime:
    """`day` at a wall time in `zone` (UTC by default): a slot start for the factory doctors,
    who work 08:00-18:00 in 20-minute slots."""
    return datetime.combine(day, time(hour, minute), tzinfo=zone or UTC)


def totp_code(secret_hex: str, *, steps_ahead: int = 0) -> str:
    """The code an authenticator app holding `secret_hex` shows now, or `steps_ahead` time
    steps (30 s) later: the server accepts one step either side, and never a code twice."""
    from time import time as unix_now

    from django_otp.oath import TOTP

    totp = TOTP(bytes.fromhex(secret_hex))
    totp.time = unix_now() + 30 * steps_ahead
    return f"{totp.token():06d}"


def make_enrolled(user: User):
    """`user` with an authenticator app set up, as enrolment leaves it: (device, recovery codes).
    Enrolment used the current step's code, so a sign-in right after needs `steps_ahead=1`."""
    from django_otp.util import random_hex

    from visits.services.mfa import mfa_enrol

    secret = random_hex(20)
    return mfa_enrol(user=user, secret=secret, code=totp_code(secret))
