"""Writes about appointments: booking, rescheduling and the status state machine."""

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.errors import (
    ApplicationError,
    ConflictError,
    NotFoundError,
    NotSignedInError,
    PermissionDeniedError,
)
from visits.models import Appointment, AppointmentStatus, Doctor, Patient, Role, User
from visits.selectors import (
    BOOKING_HORIZON,
    NO_SUCH_APPOINTMENT,
    Capability,
    appointment_require,
    appointments_overlapping,
    doctor_slot_end,
    user_is_signed_in,
)

# The name of the database rule (exclusion constraint on PostgreSQL, trigger on SQLite) that
# makes overlapping appointments impossible even for writes that bypass this module.
OVERLAP_CONSTRAINT = "appointment_no_overlap"
SLOT_TAKEN = "That time is no longer free: the doctor already has an appointment then."


@dataclass(frozen=True)
class Transition:
    """Who may take it is the access rule's (visits.selectors.APPOINTMENT_CAPABILITIES, under
    the action's name); when it may be taken is here."""

    sources: frozenset[str]
    target: str
    only_after_start: bool = False  # e.g. nobody is a no-show before the visit began
    only_before_end: bool = False


S = AppointmentStatus
# The one state machine of an appointment's status. Keys are the actions the API exposes.
TRANSITIONS: dict[str, Transition] = {
    "confirm": Transition(frozenset({S.REQUESTED}), S.CONFIRMED, only_before_end=True),
    "cancel": Transition(
        frozenset({S.REQUESTED, S.CONFIRMED, S.CHECKED_IN}),
        S.CANCELLED,
    ),
    "check_in": Transition(frozenset({S.CONFIRMED}), S.CHECKED_IN, only_before_end=True),
    # The doctor lets the patient into the visit room (a requested visit is thereby accepted).
    "start": Transition(
        frozenset({S.REQUESTED, S.CONFIRMED, S.CHECKED_IN}),
        S.IN_PROGRESS,
    ),
    "complete": Transition(
        frozenset({S.CONFIRMED, S.CHECKED_IN, S.IN_PROGRESS}),
        S.COMPLETED,
        only_after_start=True,
    ),
    "no_show": Transition(
        frozenset({S.REQUESTED, S.CONFIRMED}),
        S.NO_SHOW,
        only_after_start=True,
    ),
}
RESCHEDULABLE = frozenset({S.REQUESTED, S.CONFIRMED})


def _require_aware(start: datetime) -> None:
    if timezone.is_naive(start):
        raise ApplicationError(
            "Give the time with a UTC offset, e.g. 2030-01-15T09:00:00+09:00.", field="start"
        )


def _save_holding_slot(appointment: Appointment) -> None:
    """Save under a per-doctor lock; a clash (seen here or by the database rule) is a 409."""
    try:
        with transaction.atomic():
            # Serialise bookings per doctor on PostgreSQL (SQLite's IMMEDIATE transactions
            # already serialise writers); the database rule stays the last word either way.
            Doctor.objects.select_for_update().filter(pk=appointment.doctor_id).first()
            if (
                appointment.holds_slot
                and appointments_overlapping(
                    doctor=appointment.doctor,
                    start=appointment.start,
                    end=appointment.end,
                    exclude_id=appointment.pk,
                ).exists()
            ):
                raise ConflictError(SLOT_TAKEN)
            appointment.save()
    except IntegrityError as error:
        if OVERLAP_CONSTRAINT in str(error):
            raise ConflictError(SLOT_TAKEN) from error
        raise


def appointment_create(
    *,
    doctor: Doctor,
    patient: Patient,
    start: datetime,
    reason: str,
    end: datetime | None = None,
    status: str = AppointmentStatus.REQUESTED,
) -> Appointment:
    """Put an appointment in the book at any time (clinic staff, demo data): no slot rules,
    only that the doctor's time is free."""
    return appointment_set_details(
        appointment=Appointment(status=status),
        doctor=doctor,
        patient=patient,
        start=start,
        end=end,
        reason=reason,
    )


def appointment_set_details(
    *,
    appointment: Appointment,
    doctor: Doctor,
    patient: Patient,
    start: datetime,
    reason: str,
    end: datetime | None = None,
) -> Appointment:
    """Save who, when and why of `appointment`, new or not (clinic staff in the admin), under
    the same rules and the same per-doctor lock as a booking: 409 when the doctor's time is
    taken. Its status is not set here: it moves only through `appointment_transition`."""
    _require_aware(start)
    if end is not None and timezone.is_naive(end):
        raise ApplicationError("Appointment times must carry a time zone.", field="end")
    end = end or start + doctor.appointment_length
    if end <= start:
        raise ApplicationError("An appointment must end after it starts.", field="end")
    if not reason.strip():
        raise ApplicationError("Please give a reason for the visit.", field="reason")
    appointment.doctor, appointment.patient = doctor, patient
    appointment.start, appointment.end, appointment.reason = start, end, reason.strip()
    # The fields' own rules (lengths, choices) only: the unique room_id (a fresh uuid4) and
    # the check constraints (end after start, checked above; a known status, set by code) are
    # the database's to enforce, and checking them here cost a query each.
    appointment.full_clean(
        exclude=["doctor", "patient"], validate_unique=False, validate_constraints=False
    )
    _save_holding_slot(appointment)
    return appointment


def _require_slot(*, doctor: Doctor, start: datetime, now: datetime) -> datetime:
    """The end of the doctor's slot starting at `start`, or a 400 saying what is wrong."""
    _require_aware(start)
    if start <= now:
        raise ApplicationError("That time is in the past.", field="start")
    if start > now + BOOKING_HORIZON:
        raise ApplicationError("Appointments can be booked at most a year ahead.", field="start")
    # Found by instant (in one zone `==` compares wall times, and on the night clocks go back
    # the same wall time names two instants).
    end = doctor_slot_end(doctor=doctor, start=start)
    if end is not None:
        return end
    local_start = start.astimezone(doctor.zone)
    raise ApplicationError(
        f"{local_start:%Y-%m-%d %H:%M} ({doctor.time_zone}) is not one of {doctor}'s "
        f"appointment slots; list them at /api/doctors/{doctor.pk}/slots/"
        f"?date={local_start:%Y-%m-%d}.",
        field="start",
    )


def appointment_book(
    *,
    booked_by: User,
    doctor: Doctor | None,
    start: datetime,
    reason: str,
    patient: Patient | None = None,
) -> Appointment:
    """A patient books one of a doctor's free slots for themself; clinic staff for a patient.

    400 for a start that is not a slot, 409 when the slot was taken meanwhile.
    """
    if not user_is_signed_in(booked_by):
        raise NotSignedInError("Sign in first.")
    if booked_by.is_clinic_staff:
        if patient is None:
            raise ApplicationError("Clinic staff must say which patient to book.", field="patient")
    elif booked_by.is_patient and hasattr(booked_by, "patient"):
        if patient is not None and patient.pk != booked_by.patient.pk:
            raise ApplicationError("Patients can only book for themselves.", field="patient")
        patient = booked_by.patient
    else:
        raise PermissionDeniedError("Only patients and clinic staff book appointments.")
    if doctor is None or not doctor.is_active:
        raise ApplicationError("Unknown doctor.", field="doctor")
    end = _require_slot(doctor=doctor, start=start, now=timezone.now())
    return appointment_create(doctor=doctor, patient=patient, start=start, end=end, reason=reason)


def appointment_lock_for(
    user: User, appointment_id: int, capability: Capability
) -> tuple[Appointment, Role]:
    """The appointment, row-locked for this transaction, and how `user` stands to it, if they
    may do `capability` to it; otherwise the access rule's refusal (visits.selectors)."""
    if not user_is_signed_in(user):
        raise NotSignedInError("Sign in first.")
    appointment = (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("doctor", "patient")
        .filter(pk=appointment_id)
        .first()
    )
    if appointment is None:
        raise NotFoundError(NO_SUCH_APPOINTMENT)
    role = appointment_require(user=user, appointment=appointment, capability=capability)
    return appointment, role


def appointment_transition(
    *, user: User, appointment_id: int, action: str, reason: str = ""
) -> Appointment:
    """Move an appointment along the state machine, if `user` may and its status allows."""
    transition = TRANSITIONS[action]
    now = timezone.now()
    with transaction.atomic():
        appointment, _ = appointment_lock_for(user, appointment_id, Capability(action))
        verb = action.replace("_", "-")
        if appointment.status not in transition.sources:
            raise ConflictError(
                f"Cannot {verb} an appointment that is {appointment.status}.",
            )
        # A visit already in progress has started, even ahead of its booked time.
        started = now >= appointment.start or appointment.status == AppointmentStatus.IN_PROGRESS
        if transition.only_after_start and not started:
            raise ConflictError(f"Cannot {verb} an appointment before it starts.")
        if transition.only_before_end and now >= appointment.end:
            raise ConflictError(f"Cannot {verb} an appointment that has already ended.")
        appointment.status = transition.target
        fields = ["status", "updated_at"]
        if transition.target == AppointmentStatus.CANCELLED:
            if not reason.strip():
                raise ApplicationError("Please give a reason for cancelling.", field="reason")
            appointment.cancellation_reason = reason.strip()
            fields.append("cancellation_reason")
        appointment.save(update_fields=fields)
    return appointment


def appointment_reschedule(*, user: User, appointment_id: int, start: datetime) -> Appointment:
    """Move a visit to another free slot of the same doctor.

    A patient moving a confirmed visit sends it back to `requested` for the doctor to confirm.
    """
    with transaction.atomic():
        appointment, role = appointment_lock_for(user, appointment_id, Capability.RESCHEDULE)
        if appointment.status not in RESCHEDULABLE:
            raise ConflictError(f"Cannot reschedule an appointment that is {appointment.status}.")
        appointment.end = _require_slot(doctor=appointment.doctor, start=start, now=timezone.now())
        appointment.start = start
        if role == Role.PATIENT and appointment.status == AppointmentStatus.CONFIRMED:
            appointment.status = AppointmentStatus.REQUESTED
        _save_holding_slot(appointment)
    return appointment
