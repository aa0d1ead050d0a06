"""Read queries over doctors, patients and appointments."""

from datetime import date, datetime, time, timedelta

from django.db.models import QuerySet

from visits.models import Appointment, AppointmentStatus, Doctor, Patient
from visits.models.appointments import SLOT_RELEASING_STATUSES, UPCOMING_STATUSES


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
    """The doctor's appointments on a local calendar day, cancellations left out."""
    day_start, day_end = doctor_local_day_bounds(doctor=doctor, day=day)
    return (
        Appointment.objects.filter(doctor=doctor, start__gte=day_start, start__lt=day_end)
        .exclude(status=AppointmentStatus.CANCELLED)
        .select_related("patient__user")
        .order_by("start")
    )


def clinic_overview(*, now: datetime) -> dict[str, int]:
    """Counts for the staff landing page (the clinic's day is UTC here; doctors see their own)."""
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    day_end = day_start + timedelta(days=1)
    today = Appointment.objects.filter(start__gte=day_start, start__lt=day_end)
    return {
        "appointments_today": today.exclude(status=AppointmentStatus.CANCELLED).count(),
        "awaiting_confirmation": Appointment.objects.filter(
            status=AppointmentStatus.REQUESTED, end__gt=now
        ).count(),
        "active_doctors": Doctor.objects.filter(is_active=True).count(),
        "patients": Patient.objects.count(),
    }
