"""Read queries over doctors, patients and appointments, and who has which second factor."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from django.conf import settings
from django.db.models import Q, QuerySet
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.errors import (
    NotFoundError,
    NotOpenError,
    NotSignedInError,
    NotYoursError,
    PermissionDeniedError,
)
from visits.models import (
    Appointment,
    AppointmentStatus,
    Doctor,
    Patient,
    Role,
    VisitNote,
    VisitNoteAddendum,
    VisitNoteVersion,
    WorkingHours,
)
from visits.models.appointments import SLOT_RELEASING_STATUSES, UPCOMING_STATUSES

# How far ahead slots exist (to list and to book); beyond it working hours are only a guess.
BOOKING_HORIZON = timedelta(days=366)


def appointments_overlapping(
    *, doctor: Doctor, start: datetime, end: datetime, exclude_id: int | None = None
) -> QuerySet[Appointment]:
    """The doctor's slot-holding appointments that share any instant with [start, end)."""
    overlapping = Appointment.objects.filter(doctor=doctor, start__lt=end, end__gt=start).exclude(
        status__in=SLOT_RELEASING_STATUSES
    )
    if exclude_id is not None:
        overlapping = overlapping.exclude(pk=exclude_id)
    return overlapping


def patient_upcoming_appointments(*, patient: Patient, now: datetime) -> QuerySet[Appointment]:
    """Visits that have not ended yet and still may happen, soonest first."""
    return (
        Appointment.objects.filter(patient=patient, end__gt=now, status__in=UPCOMING_STATUSES)
        .select_related("doctor")
        .order_by("start")
    )


def patient_past_appointments(
    *, patient: Patient, now: datetime, limit: int = 5
) -> QuerySet[Appointment]:
    return (
        Appointment.objects.filter(patient=patient, end__lte=now)
        .select_related("doctor")
        .order_by("-start")[:limit]
    )


def doctor_local_day_bounds(*, doctor: Doctor, day: date) -> tuple[datetime, datetime]:
    """The UTC-comparable instants at which `day` starts and ends in the doctor's time zone."""
    zone = doctor.zone
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def doctor_schedule_for_day(*, doctor: Doctor, day: date) -> QuerySet[Appointment]:
    """The doctor's appointments on a local calendar day that hold their time (cancellations
    left out)."""
    day_start, day_end = doctor_local_day_bounds(doctor=doctor, day=day)
    return (
        Appointment.objects.filter(doctor=doctor, start__gte=day_start, start__lt=day_end)
        .exclude(status__in=SLOT_RELEASING_STATUSES)
        .select_related("patient__user")
        .order_by("start")
    )


def clinic_overview(*, now: datetime) -> dict[str, int]:
    """Counts for the staff landing page (the clinic's day is UTC here; doctors see their own)."""
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    day_end = day_start + timedelta(days=1)
    today = Appointment.objects.filter(start__gte=day_start, start__lt=day_end)
    return {
        "appointments_today": today.exclude(status__in=SLOT_RELEASING_STATUSES).count(),
        "awaiting_confirmation": Appointment.objects.filter(
            status=AppointmentStatus.REQUESTED, end__gt=now
        ).count(),
        "active_doctors": Doctor.objects.filter(is_active=True).count(),
        "patients": Patient.objects.count(),
    }


@dataclass(frozen=True)
class Slot:
    start: datetime  # aware, in the doctor's time zone
    end: datetime


def _local_instant(day: date, wall_time: time, zone) -> datetime | None:
    """`day` at `wall_time` in `zone`, or None when that wall time does not exist (DST gap)."""
    instant = datetime.combine(day, wall_time, tzinfo=zone)
    round_trip = instant.astimezone(UTC).astimezone(zone)
    return instant if round_trip.replace(tzinfo=None) == instant.replace(tzinfo=None) else None


def _working_ranges_utc(doctor: Doctor, day: date) -> list[tuple[datetime, datetime]]:
    """The doctor's working-hours ranges on a local day, as (start, end) instants in UTC (a
    range whose start or end does not exist that day, in a clock change, is left out). Slots
    step in UTC: aware arithmetic within one zone works on wall times, so a slot spanning the
    hour the clocks go back would last an hour too long."""
    zone, weekday = doctor.zone, day.weekday()
    ranges = []
    for hours in doctor.working_hours.all():
        if hours.weekday != weekday:
            continue
        range_start = _local_instant(day, hours.start_time, zone)
        range_end = _local_instant(day, hours.end_time, zone)
        if range_start is not None and range_end is not None:
            ranges.append((range_start.astimezone(UTC), range_end.astimezone(UTC)))
    return ranges


def doctor_slot_grid_utc(*, doctor: Doctor, day: date) -> list[tuple[datetime, datetime]]:
    """The (start, end) instants in UTC of every slot of the doctor's working hours on a local
    day, ordered by start. Kept in UTC: comparing datetimes of one fixed zone is the cheapest
    comparison, and a slot list of a long day is compared many times."""
    length = doctor.appointment_length
    slots = []
    for cursor, range_end in _working_ranges_utc(doctor, day):
        while cursor + length <= range_end:
            slots.append((cursor, cursor + length))
            cursor += length
    slots.sort()
    return slots


def doctor_slot_end(*, doctor: Doctor, start: datetime) -> datetime | None:
    """The end, in the doctor's zone, of the doctor's slot that starts at the instant `start`
    (aware), or None when no slot starts then: the slots of doctor_slot_grid_utc, found by
    arithmetic on each working-hours range rather than by listing the day."""
    zone = doctor.zone
    instant = start.astimezone(UTC)
    length = doctor.appointment_length
    for range_start, range_end in _working_ranges_utc(doctor, start.astimezone(zone).date()):
        since_range_start = instant - range_start
        if (
            since_range_start >= timedelta(0)
            and since_range_start % length == timedelta(0)
            and instant + length <= range_end
        ):
            return (instant + length).astimezone(zone)
    return None


def doctor_slot_grid(*, doctor: Doctor, day: date) -> list[Slot]:
    """Every slot of the doctor's working hours on a local day, booked or not.

    Slots start at each range's start and step by the appointment length; a slot must fit
    inside its range. Uses the prefetched `working_hours` when the caller loaded them.
    """
    zone = doctor.zone
    return [
        Slot(start=start.astimezone(zone), end=end.astimezone(zone))
        for start, end in doctor_slot_grid_utc(doctor=doctor, day=day)
    ]


def doctor_free_slots(
    *, doctor: Doctor, day: date, now: datetime, exclude_appointment_id: int | None = None
) -> list[Slot]:
    """The slots of a local day that lie in the future (up to the booking horizon) and overlap
    no held appointment."""
    zone = doctor.zone
    return [
        Slot(start=start.astimezone(zone), end=end.astimezone(zone))
        for start, end in doctor_free_slot_instants(
            doctor=doctor, day=day, now=now, exclude_appointment_id=exclude_appointment_id
        )
    ]


def doctor_free_slot_instants(
    *, doctor: Doctor, day: date, now: datetime, exclude_appointment_id: int | None = None
) -> list[tuple[datetime, datetime]]:
    """doctor_free_slots as (start, end) instants in UTC, for a caller that formats them
    itself (the API: converting each to the doctor's zone costs more than the rest)."""
    if day < now.astimezone(doctor.zone).date():
        return []  # a day that is over (and no arithmetic on days near the calendar's start)
    now = now.astimezone(UTC)
    horizon = now + BOOKING_HORIZON
    grid = [
        (start, end)
        for start, end in doctor_slot_grid_utc(doctor=doctor, day=day)
        if now < start <= horizon
    ]
    if not grid:
        return []
    held = [
        (start.astimezone(UTC), end.astimezone(UTC))
        for start, end in appointments_overlapping(
            doctor=doctor,
            start=grid[0][0],
            end=max(end for _, end in grid),
            exclude_id=exclude_appointment_id,
        )
        .order_by("start")
        .values_list("start", "end")
    ]
    # One ordered pass (slots and held appointments both by start): the held appointments
    # that end before a slot starts end before every later slot starts too; of the rest, the
    # first to start is the only one that can reach into the slot.
    free, index = [], 0
    for start, end in grid:
        while index < len(held) and held[index][1] <= start:
            index += 1
        if index == len(held) or held[index][0] >= end:
            free.append((start, end))
    return free


def appointments_visible_to(*, user) -> QuerySet[Appointment]:
    """The query form of Capability.VIEW (see appointment_role_of): clinic staff see every
    appointment, anyone else the ones they are the doctor or the patient of."""
    appointments = Appointment.objects.select_related("doctor", "patient__user")
    if not user_is_signed_in(user):
        return appointments.none()
    if user.is_clinic_staff:
        return appointments
    return appointments.filter(Q(doctor__user=user) | Q(patient__user=user))


def appointment_list(
    *,
    user,
    status: str | None = None,
    start_from: datetime | None = None,
    start_before: datetime | None = None,
) -> QuerySet[Appointment]:
    appointments = appointments_visible_to(user=user)
    if status:
        appointments = appointments.filter(status=status)
    if start_from:
        appointments = appointments.filter(start__gte=start_from)
    if start_before:
        appointments = appointments.filter(start__lt=start_before)
    return appointments.order_by("start", "pk")


def appointment_get(
    *, user, appointment_id: int, capability: "Capability | None" = None
) -> Appointment:
    """The appointment, if `user` may do `capability` to it (by default: see it); otherwise
    the refusal (appointment_require), and NotFoundError for one that does not exist."""
    if not user_is_signed_in(user):
        raise NotSignedInError("Sign in first.")
    appointment = (
        Appointment.objects.select_related("doctor", "patient__user")
        .filter(pk=appointment_id)
        .first()
    )
    if appointment is None:
        raise NotFoundError(NO_SUCH_APPOINTMENT)
    appointment_require(user=user, appointment=appointment, capability=capability or VIEW)
    return appointment


def doctor_list(*, specialty: str | None = None, search: str | None = None) -> QuerySet[Doctor]:
    doctors = Doctor.objects.filter(is_active=True)
    if specialty:
        doctors = doctors.filter(specialty__iexact=specialty)
    if search:
        doctors = doctors.filter(Q(display_name__icontains=search) | Q(specialty__icontains=search))
    return doctors.order_by("display_name", "pk")


def doctor_get_with_working_hours(*, doctor_id: int, active_only: bool = False) -> Doctor | None:
    """The doctor with `working_hours` loaded (as prefetch_related would leave them), in one
    query: the hours joined to their doctor; a second query only for a doctor without hours."""
    doctor_filter = {"is_active": True} if active_only else {}
    joined_filter = {f"doctor__{name}": value for name, value in doctor_filter.items()}
    hours = list(
        WorkingHours.objects.filter(doctor_id=doctor_id, **joined_filter)
        .select_related("doctor")
        .order_by("weekday", "start_time")
    )
    if hours:
        doctor = hours[0].doctor
        for row in hours:
            row.doctor = doctor
    else:
        doctor = Doctor.objects.filter(pk=doctor_id, **doctor_filter).first()
        if doctor is None:
            return None
    # Where prefetch_related keeps what it loaded, so doctor.working_hours.all() asks nothing.
    loaded = doctor.working_hours.all()
    loaded._result_cache, loaded._prefetch_done = hours, True
    doctor._prefetched_objects_cache = {"working_hours": loaded}
    return doctor


def doctor_get_active(*, doctor_id: int) -> Doctor | None:
    return doctor_get_with_working_hours(doctor_id=doctor_id, active_only=True)


# A doctor may open the charts of patients they have seen or are booked to see: whose
# appointment with them holds (or held) the doctor's time.
CHART_OPENING_STATUSES = tuple(
    status for status in AppointmentStatus.values if status not in SLOT_RELEASING_STATUSES
)


def patient_chart_get(*, user, patient_id: int) -> Patient:
    """A patient's chart, for the patient, a doctor who has seen or will see them, or clinic
    staff (the roles of appointment_role_of); NotYoursError for anyone else."""
    if not user_is_signed_in(user):
        raise NotSignedInError("Sign in first.")
    patient = (
        Patient.objects.select_related("user")
        .prefetch_related("allergies", "medications", "conditions")
        .filter(pk=patient_id)
        .first()
    )
    if patient is None:
        raise NotFoundError("No such patient.")
    if user.is_clinic_staff or user.id == patient.user_id:
        return patient
    # One filter() call, so both conditions hold for the same appointment: a booking that was
    # cancelled does not make someone the doctor's patient.
    if patient.appointments.filter(doctor__user=user, status__in=CHART_OPENING_STATUSES).exists():
        return patient
    raise NotYoursError("No such patient.")


@dataclass(frozen=True)
class PatientRecord:
    """Everything the clinic holds about one patient that makes up their record (what they
    may download): the chart, every appointment with its doctor, and for each visit its note
    only once signed (with its addenda). Unsigned drafts are not part of the legal record."""

    patient: Patient
    appointments: list[Appointment]
    signed_notes: dict[int, VisitNote]  # by appointment id

    @property
    def doctors(self) -> list[Doctor]:
        """Every doctor of the patient's appointments, once each, first seen first."""
        return list({item.doctor.pk: item.doctor for item in self.appointments}.values())


def patient_record_get(*, user, patient_id: int) -> PatientRecord:
    """The patient's whole record, for whoever may open their chart (patient_chart_get)."""
    patient = patient_chart_get(user=user, patient_id=patient_id)
    appointments = list(
        Appointment.objects.filter(patient=patient).select_related("doctor").order_by("start", "pk")
    )
    signed_notes = {
        note.appointment_id: note
        for note in VisitNote.objects.filter(appointment__patient=patient, signed_at__isnull=False)
        .select_related("signed_by__doctor")
        .prefetch_related("addenda__author__doctor")
    }
    return PatientRecord(patient=patient, appointments=appointments, signed_notes=signed_notes)


def patient_previous_visits(*, patient: Patient, before: datetime, limit: int = 10):
    """Earlier visits that took place, newest first, with their notes (for the doctor's sidebar)."""
    return (
        Appointment.objects.filter(
            patient=patient, start__lt=before, status=AppointmentStatus.COMPLETED
        )
        .select_related("doctor", "note__signed_by__doctor")
        .prefetch_related("note__addenda__author")
        .order_by("-start")[:limit]
    )


def visit_note_for(*, appointment: Appointment):
    """The visit's note, or an unsaved empty one (version 0) to start from."""
    return VisitNote.objects.filter(appointment=appointment).first() or VisitNote(
        appointment=appointment
    )


def visit_note_versions(*, appointment: Appointment) -> QuerySet[VisitNoteVersion]:
    """Every saved state of the visit's note, newest first (none before the first save)."""
    return (
        VisitNoteVersion.objects.filter(note__appointment=appointment)
        .select_related("saved_by")
        .order_by("-version")
    )


def visit_note_addenda(*, note: VisitNote) -> QuerySet[VisitNoteAddendum]:
    """The note's addenda, oldest first; none for a note not saved yet."""
    if note.pk is None:
        return VisitNoteAddendum.objects.none()
    return note.addenda.select_related("author").order_by("created_at", "pk")


# --- Joining the visit's room ------------------------------------------------------------------

# A room opens a little before the visit so people can check their camera, and stays open a
# while after the scheduled end because visits overrun.
JOIN_OPENS_BEFORE_START = timedelta(minutes=15)
JOIN_CLOSES_AFTER_END = timedelta(hours=2)
ROOM_CLOSED_STATUSES = frozenset(
    {AppointmentStatus.CANCELLED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW}
)


@dataclass(frozen=True)
class JoinWindow:
    opens_at: datetime
    closes_at: datetime
    is_open: bool
    reason: str  # why it is closed, for the person looking at it ("" when open)


def room_join_window(*, appointment: Appointment, now: datetime) -> JoinWindow:
    """When the visit's room may be joined: the portal shows it, the room enforces it."""
    opens_at = appointment.start - JOIN_OPENS_BEFORE_START
    closes_at = appointment.end + JOIN_CLOSES_AFTER_END
    if appointment.status in ROOM_CLOSED_STATUSES:
        reason = f"This visit is {appointment.get_status_display().lower()}."
    elif now < opens_at:
        minutes = int(JOIN_OPENS_BEFORE_START.total_seconds() // 60)
        reason = f"The room opens {minutes} minutes before the visit."
    elif now > closes_at:
        reason = "This visit's room has closed."
    else:
        reason = ""
    return JoinWindow(opens_at=opens_at, closes_at=closes_at, is_open=not reason, reason=reason)


def room_require_open(*, appointment: Appointment, now: datetime) -> JoinWindow:
    """The open join window, or NotOpenError saying why the room is closed."""
    window = room_join_window(appointment=appointment, now=now)
    if not window.is_open:
        raise NotOpenError(window.reason)
    return window


# --- Who may do what to an appointment ----------------------------------------------------------


class Capability(StrEnum):
    """What someone may want to do to an appointment. The status changes are named as the
    state machine's actions (visits.services.appointments.TRANSITIONS)."""

    VIEW = "view"
    READ_NOTE = "read_note"
    READ_NOTE_HISTORY = "read_note_history"
    WRITE_NOTE = "write_note"  # save the note, add addenda
    SIGN_NOTE = "sign_note"  # sign the note: it becomes read-only, later changes are addenda
    ENTER_ROOM = "enter_room"  # the room page, its WebSocket, ICE servers, the Calls proxy
    RESCHEDULE = "reschedule"
    CONFIRM = "confirm"
    CANCEL = "cancel"
    CHECK_IN = "check_in"
    START = "start"
    COMPLETE = "complete"
    NO_SHOW = "no_show"
    RECORD = "record"  # ask to record the visit, upload the recording's chunks
    VIEW_RECORDINGS = "view_recordings"  # list, play and download the visit's recordings
    DELETE_RECORDING = "delete_recording"  # with a reason, kept in the access log
    TRANSCRIBE = "transcribe"  # ask to transcribe the visit, send its audio
    # Read the transcript, export it; a patient only once the visit is over (the transcripts'
    # own selector adds that).
    VIEW_TRANSCRIPT = "view_transcript"
    CORRECT_TRANSCRIPT = "correct_transcript"
    DRAFT_NOTE = "draft_note"  # ask the AI scribe for a draft note, read it


VIEW = Capability.VIEW
_PATIENT, _DOCTOR, _STAFF = Role.PATIENT, Role.DOCTOR, Role.ADMIN
# Which appointment roles (appointment_role_of) have each capability; the one table.
APPOINTMENT_CAPABILITIES: dict[Capability, frozenset[Role]] = {
    Capability.VIEW: frozenset({_PATIENT, _DOCTOR, _STAFF}),
    Capability.READ_NOTE: frozenset({_DOCTOR, _STAFF}),
    Capability.READ_NOTE_HISTORY: frozenset({_DOCTOR, _STAFF}),
    Capability.WRITE_NOTE: frozenset({_DOCTOR}),
    Capability.SIGN_NOTE: frozenset({_DOCTOR}),
    Capability.ENTER_ROOM: frozenset({_PATIENT, _DOCTOR}),
    Capability.RESCHEDULE: frozenset({_PATIENT, _DOCTOR, _STAFF}),
    Capability.CONFIRM: frozenset({_DOCTOR, _STAFF}),
    Capability.CANCEL: frozenset({_PATIENT, _DOCTOR, _STAFF}),
    Capability.CHECK_IN: frozenset({_PATIENT, _STAFF}),
    Capability.START: frozenset({_DOCTOR, _STAFF}),
    Capability.COMPLETE: frozenset({_DOCTOR, _STAFF}),
    Capability.NO_SHOW: frozenset({_DOCTOR, _STAFF}),
    Capability.RECORD: frozenset({_DOCTOR}),
    Capability.VIEW_RECORDINGS: frozenset({_PATIENT, _DOCTOR, _STAFF}),
    Capability.DELETE_RECORDING: frozenset({_STAFF}),
    Capability.TRANSCRIBE: frozenset({_DOCTOR}),
    Capability.VIEW_TRANSCRIPT: frozenset({_PATIENT, _DOCTOR, _STAFF}),
    Capability.CORRECT_TRANSCRIPT: frozenset({_DOCTOR}),
    Capability.DRAFT_NOTE: frozenset({_DOCTOR}),
}
NO_SUCH_APPOINTMENT = "No such appointment."
# What a refused role is told; the status changes say "A patient cannot confirm ...".
_REFUSALS = {
    Capability.READ_NOTE: "Visit notes are for the doctor.",
    Capability.READ_NOTE_HISTORY: "A note's history is for the visit's doctor and clinic staff.",
    Capability.WRITE_NOTE: "Only the visit's doctor writes its note and its addenda.",
    Capability.SIGN_NOTE: "Only the visit's doctor signs its note.",
    Capability.RECORD: "Only the visit's doctor records it.",
    Capability.DELETE_RECORDING: "Only clinic staff delete recordings.",
}


def user_is_signed_in(user) -> bool:
    """An account that may act at all: signed in and not deactivated."""
    return user is not None and user.is_authenticated and user.is_active


def appointment_role_of(*, user, appointment: Appointment) -> Role | None:
    """How `user` stands to `appointment`, which decides everything they may do to it (the
    table APPOINTMENT_CAPABILITIES; appointment_require raises its refusals):

    - Role.PATIENT, its patient: sees it and their chart (patient_chart_get), cancels,
      reschedules and checks in, enters its room; never reads the note.
    - Role.DOCTOR, its doctor: everything but checking in, and alone writes and signs the note
      (and its addenda).
    - Role.ADMIN, clinic staff (the admin role, or any superuser) for an appointment they are
      not the doctor or patient of: read appointments, charts, notes and the notes' history
      for clinic operations,
      book, cancel, reschedule and move the status on the patient's or the doctor's behalf
      (what the API allows them), and never enter a visit room (no WebSocket, no ICE servers,
      no Calls proxy: refused as NotYoursError, like a stranger), nor write notes.
    - None: nobody to it (another patient or doctor), and anyone not signed in or deactivated.

    Being the visit's doctor or patient comes first: a doctor whose account is also a superuser
    is their own visit's doctor (writes its note, enters its room), staff only for others'.
    """
    if not user_is_signed_in(user):
        return None
    if user.id == appointment.doctor.user_id:
        return Role.DOCTOR
    if user.id == appointment.patient.user_id:
        return Role.PATIENT
    if user.is_clinic_staff:
        return Role.ADMIN
    return None


def appointment_require(*, user, appointment: Appointment, capability: Capability) -> Role:
    """`user`'s role to `appointment` if it has `capability`, or the refusal: NotSignedInError,
    NotYoursError (no part in it, and for staff the room), PermissionDeniedError (sees it, may
    not do this)."""
    if not user_is_signed_in(user):
        raise NotSignedInError("Sign in first.")
    role = appointment_role_of(user=user, appointment=appointment)
    if role is None:
        raise NotYoursError(NO_SUCH_APPOINTMENT)
    if role not in APPOINTMENT_CAPABILITIES[capability]:
        if capability == Capability.ENTER_ROOM:
            raise NotYoursError("This is not your visit.")
        verb = capability.value.replace("_", "-")
        message = _REFUSALS.get(capability, f"A {role.value} cannot {verb} this appointment.")
        raise PermissionDeniedError(message)
    return role


# --- Multi-factor sign-in ---------------------------------------------------------------------


class MfaSessionState(StrEnum):
    """Where a signed-in session stands with the second factor (visits.mfa_gate acts on it)."""

    COMPLETE = "complete"  # verified by a device, or no second factor asked of this person
    ENROL = "enrol"  # their role needs one and they have none yet: enrolment only
    VERIFY = "verify"  # they have one, but this session never proved it: sign in again


def mfa_required_for(user) -> bool:
    """Whether `user`'s role must have a second factor (MFA_REQUIRED_ROLES); a superuser counts
    as clinic staff."""
    roles = set(settings.MFA_REQUIRED_ROLES)
    return user.role in roles or (user.is_superuser and Role.ADMIN in roles)


def mfa_totp_device_of(user) -> TOTPDevice | None:
    """The authenticator app `user` confirmed, if any (one per person)."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def mfa_enrolled(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def mfa_recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def mfa_session_state(user, *, verified: bool) -> MfaSessionState:
    """Where `user`'s session stands; `verified`: a device of theirs verified it (behind
    django_otp's OTPMiddleware, request.user.is_verified())."""
    if verified:
        return MfaSessionState.COMPLETE
    if mfa_enrolled(user):
        return MfaSessionState.VERIFY
    return MfaSessionState.ENROL if mfa_required_for(user) else MfaSessionState.COMPLETE
