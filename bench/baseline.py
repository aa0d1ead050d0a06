"""The baseline: plain Django views doing the booking API's database work, and little else.

No DRF, no authentication, no serializers, no service layer: the request is parsed by hand,
the ORM calls do the database work the API's selectors and services do (the same rows),
and a small JSON goes back. They still run behind the project's middleware, in the same Daphne
process, so comparing them with the API shows what the API's own layers cost.

What the API does on top: the JWT user lookup (authentication), which the API pays for with
fewer statements elsewhere (the doctor and their working hours in one query; for a booking the
patient profile joined to the user), so both sides issue as many SQL statements
(tests/bench/test_booking_fast_path.py holds them equal; bench/seed.py prints them).
"""

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from visits.models import Appointment, AppointmentStatus, Doctor

BOOKING_HORIZON = timedelta(days=366)  # as visits.selectors; a constant, not imported


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


def _slot_starts(doctor: Doctor, day: date, now: datetime) -> list[datetime]:
    """The future slot starts (in UTC) of the doctor's working hours on `day`, plainly."""
    zone, length = doctor.zone, doctor.appointment_length
    starts = []
    for hours in doctor.working_hours.all():
        if hours.weekday != day.weekday():
            continue
        start = datetime.combine(day, hours.start_time, tzinfo=zone).astimezone(UTC)
        range_end = datetime.combine(day, hours.end_time, tzinfo=zone).astimezone(UTC)
        while start + length <= range_end:
            if start > now:
                starts.append(start)
            start += length
    starts.sort()
    return starts


@require_GET
def doctor_slots(request: HttpRequest, doctor_id: int) -> JsonResponse:
    """Same queries as GET /api/doctors/<id>/slots/: the doctor with working hours, then the
    appointments held in that day's slot range."""
    try:
        day = date.fromisoformat(request.GET["date"])
    except (KeyError, ValueError):
        return _error(400, "date=YYYY-MM-DD is required.")
    doctor = (
        Doctor.objects.filter(pk=doctor_id, is_active=True)
        .prefetch_related("working_hours")
        .first()
    )
    if doctor is None:
        return _error(404, "No such doctor.")
    starts = _slot_starts(doctor, day, timezone.now())
    length = doctor.appointment_length
    free = 0
    if starts:
        held = list(
            Appointment.objects.filter(
                doctor=doctor, start__lt=starts[-1] + length, end__gt=starts[0]
            )
            .exclude(status__in=[AppointmentStatus.CANCELLED])
            .values_list("start", "end")
        )  # ordered by start (Meta.ordering), and never overlapping (the database rule)
        index = 0
        for start in starts:
            while index < len(held) and held[index][1] <= start:
                index += 1
            if index == len(held) or held[index][0] >= start + length:
                free += 1
    return JsonResponse({"doctor": doctor.id, "date": day.isoformat(), "free_slots": free})


@csrf_exempt
@require_POST
def appointment_book(request: HttpRequest) -> JsonResponse:
    """Same work as POST /api/appointments/ minus the layers: load the doctor with working
    hours, check the start is a slot, then in one transaction lock the doctor row, check for
    an overlapping appointment and insert. The patient comes in the body (no authentication)."""
    try:
        body = json.loads(request.body)
        doctor_id, patient_id = int(body["doctor"]), int(body["patient"])
        start = datetime.fromisoformat(body["start"])
        reason = str(body["reason"]).strip()
    except (KeyError, TypeError, ValueError):
        return _error(400, "doctor, patient, start and reason are required.")
    if timezone.is_naive(start) or not reason or len(reason) > 500:
        return _error(400, "start needs a UTC offset; reason 1-500 characters.")
    doctor = Doctor.objects.filter(pk=doctor_id).prefetch_related("working_hours").first()
    if doctor is None or not doctor.is_active:
        return _error(400, "Unknown doctor.")
    now = timezone.now()
    if not now < start <= now + BOOKING_HORIZON:
        return _error(400, "That time is in the past or more than a year ahead.")
    length = doctor.appointment_length
    local = start.astimezone(doctor.zone)
    on_grid = False
    for hours in doctor.working_hours.all():
        if hours.weekday != local.weekday():
            continue
        range_start = datetime.combine(local.date(), hours.start_time, tzinfo=doctor.zone)
        range_end = datetime.combine(local.date(), hours.end_time, tzinfo=doctor.zone)
        offset = local - range_start
        fits = local + length <= range_end
        if offset >= timedelta(0) and offset % length == timedelta(0) and fits:
            on_grid = True
            break
    if not on_grid:
        return _error(400, "Not one of the doctor's slots.")
    end = start + length
    try:
        with transaction.atomic():
            Doctor.objects.select_for_update().filter(pk=doctor.pk).first()
            if (
                Appointment.objects.filter(doctor=doctor, start__lt=end, end__gt=start)
                .exclude(status__in=[AppointmentStatus.CANCELLED])
                .exists()
            ):
                return _error(409, "That time is no longer free.")
            appointment = Appointment.objects.create(
                doctor=doctor, patient_id=patient_id, start=start, end=end, reason=reason
            )
    except IntegrityError:
        return _error(409, "That time is no longer free.")
    return JsonResponse(
        {"id": appointment.id, "start": start.isoformat(), "end": end.isoformat()}, status=201
    )


@csrf_exempt
def chunk_write(request: HttpRequest, seq: int) -> JsonResponse:
    """The recording bench's baseline (bench/recording.py): a PUT body written as it is to a
    file, with no authentication, no encryption, no database: what receiving the bytes costs."""
    if request.method != "PUT":
        return _error(405, "PUT only")
    folder = Path(settings.MEDIA_ROOT) / "bench-baseline"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{seq:06d}.webm").write_bytes(request.body)
    return JsonResponse({"seq": seq, "size": len(request.body)}, status=201)
