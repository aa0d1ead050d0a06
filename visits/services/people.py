"""Writes about people: accounts, doctor and patient profiles, working hours."""

from collections.abc import Iterable, Mapping
from datetime import date, time
from itertools import pairwise

from django.contrib.auth.models import Group, Permission
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.errors import ApplicationError, PermissionDeniedError
from visits.models import (
    Doctor,
    Patient,
    Role,
    User,
    WorkingHours,
)
from visits.models.doctors import Weekday

MRN_ATTEMPTS = 5
CLINIC_STAFF_GROUP = "Clinic staff"
# Sign-in lockouts (django-axes' admin): staff see them, and unlock by deleting the attempts.
SIGN_IN_LOCKOUT_PERMISSIONS = [
    "view_accessattempt",
    "delete_accessattempt",
    "view_accesslog",
    "view_accessfailurelog",
]


def clinic_staff_group_sync() -> Group:
    """The group giving clinic staff every right over the clinic's records (after migrate).

    The clinic's own models (app `visits`) and seeing and lifting sign-in lockouts (`axes`):
    never `auth` (groups, permissions) nor `admin` (the log), so no staff member can widen
    this group or join another. Which accounts the
    `visits.*_user` rights reach is narrowed by `user_may_manage_account`.
    """
    group, _ = Group.objects.get_or_create(name=CLINIC_STAFF_GROUP)
    group.permissions.set(Permission.objects.filter(content_type__app_label="visits"))
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="axes", codename__in=SIGN_IN_LOCKOUT_PERMISSIONS
        )
    )
    return group


def user_is_privileged(user: User) -> bool:
    """Staff and superusers: accounts that reach the admin, which only a superuser manages."""
    return user.is_clinic_staff or user.is_staff


def user_may_manage_account(*, actor: User, target: User) -> bool:
    """Who may change, set the password of, or delete whose account.

    Superusers manage every account. Anyone else (clinic staff) manages only patients' and
    doctors' accounts: names, email, username, the active flag, the patient/doctor role, and a
    patient's password (see `user_may_set_password`). Staff and superuser accounts,
    their own included, are read-only to them; they change their own password through the
    admin's "Change password" page, which asks for the old one. No one but a superuser sets
    is_staff, is_superuser, groups or user permissions, or gives anyone the clinic staff role.
    """
    return actor.is_superuser or not user_is_privileged(target)


def user_may_set_password(*, actor: User, target: User) -> bool:
    """Setting a password is taking the account over: staff may do it for patients (a reset at
    the desk), never for a doctor, whose account opens all their patients' charts and signs
    their notes; a superuser may do it for anyone."""
    return actor.is_superuser or (
        target.role == Role.PATIENT and user_may_manage_account(actor=actor, target=target)
    )


def user_account_check_change(*, actor: User, stored: User | None, changed: User) -> None:
    """Refuse a save by `actor` of `changed` (`stored` is the row as it was; None when adding)
    that `user_may_manage_account` does not allow, or that would make the account privileged."""
    if actor.is_superuser:
        return
    if stored is not None and not user_may_manage_account(actor=actor, target=stored):
        raise PermissionDeniedError("Only a superuser manages staff and superuser accounts.")
    if user_is_privileged(changed):
        raise PermissionDeniedError("Only a superuser makes someone clinic staff.")


def user_create(
    *,
    username: str,
    password: str | None,
    role: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
) -> User:
    if role not in Role.values:
        raise ApplicationError(f"Unknown role {role!r}.")
    user = User(
        username=username,
        role=role,
        first_name=first_name,
        last_name=last_name,
        email=email,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean()
    user_sync_role_rights(user)
    return user


def user_sync_role_rights(user: User) -> None:
    """Save `user` with admin rights that follow the role: clinic staff run the clinic from the
    admin (through the Clinic staff group); patients and doctors may never enter it, and lose
    the group's rights when they stop being staff."""
    user.is_staff = user.role == Role.ADMIN or user.is_superuser
    user.save()
    if user.role == Role.ADMIN:
        user.groups.add(clinic_staff_group_sync())
    else:
        user.groups.remove(*Group.objects.filter(name=CLINIC_STAFF_GROUP))


def doctor_create(
    *,
    user: User,
    display_name: str,
    specialty: str,
    license_number: str,
    time_zone: str = "UTC",
    appointment_length_minutes: int = 20,
) -> Doctor:
    if user.role != Role.DOCTOR:
        raise ApplicationError("Only a user with the doctor role can have a doctor profile.")
    doctor = Doctor(
        user=user,
        display_name=display_name,
        specialty=specialty,
        license_number=license_number,
        time_zone=time_zone,
        appointment_length_minutes=appointment_length_minutes,
    )
    doctor.full_clean()
    doctor.save()
    return doctor


def working_hours_validate_day(
    weekday: int, ranges: Iterable[tuple[time, time]]
) -> list[tuple[time, time]]:
    """One day's ranges, sorted; each must end after it starts and none may overlap another."""
    if weekday not in Weekday.values:
        raise ApplicationError(f"Weekday must be 0 (Monday) to 6 (Sunday), got {weekday}.")
    ordered = sorted(ranges)
    for start, end in ordered:
        if end <= start:
            raise ApplicationError(
                f"Working hours {start:%H:%M}–{end:%H:%M} must end after they start."
            )
    for (_, previous_end), (next_start, _) in pairwise(ordered):
        if next_start < previous_end:
            day = Weekday(weekday).label
            raise ApplicationError(f"Working hours on {day} overlap each other.")
    return ordered


def doctor_set_working_hours(
    *, doctor: Doctor, weekly_hours: Mapping[int, Iterable[tuple[time, time]]]
) -> list[WorkingHours]:
    """Replace the doctor's weekly hours: {weekday (0=Monday): [(start, end), ...]}."""
    rows = []
    for weekday, ranges in weekly_hours.items():
        for start, end in working_hours_validate_day(weekday, ranges):
            rows.append(
                WorkingHours(doctor=doctor, weekday=weekday, start_time=start, end_time=end)
            )
    with transaction.atomic():
        doctor.working_hours.all().delete()
        return WorkingHours.objects.bulk_create(rows)


def patient_create(
    *,
    user: User,
    date_of_birth: date,
    sex: str = "unknown",
    phone: str = "",
    email: str = "",
    emergency_contact_name: str = "",
    emergency_contact_relationship: str = "",
    emergency_contact_phone: str = "",
) -> Patient:
    if user.role != Role.PATIENT:
        raise ApplicationError("Only a user with the patient role can have a patient profile.")
    if date_of_birth > timezone.localdate():
        raise ApplicationError("Date of birth cannot be in the future.")
    patient = Patient(
        user=user,
        date_of_birth=date_of_birth,
        sex=sex,
        phone=phone,
        email=email or user.email,
        emergency_contact_name=emergency_contact_name,
        emergency_contact_relationship=emergency_contact_relationship,
        emergency_contact_phone=emergency_contact_phone,
    )
    patient.full_clean(exclude=["medical_record_number"])
    patient_save_with_unique_mrn(patient)
    return patient


def patient_save_with_unique_mrn(patient: Patient) -> None:
    """Save a new patient, drawing a fresh random MRN if the first one is already taken."""
    for attempt in range(MRN_ATTEMPTS):
        if attempt:
            patient.medical_record_number = Patient._meta.get_field(
                "medical_record_number"
            ).get_default()
        try:
            with transaction.atomic():
                patient.save()
            return
        except IntegrityError:
            if not Patient.objects.filter(
                medical_record_number=patient.medical_record_number
            ).exists():
                raise
    raise ApplicationError("Could not allocate a medical record number; try again.")
