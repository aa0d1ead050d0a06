"""The portal's server-rendered pages; each asks the selectors and renders."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from visits import selectors
from visits.models import Appointment


def _with_join_windows(appointments, now) -> list[tuple[Appointment, object]]:
    return [(item, selectors.room_join_window(appointment=item, now=now)) for item in appointments]


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    now = timezone.now()
    if user.is_clinic_staff:
        return render(
            request, "portal/staff_home.html", {"overview": selectors.clinic_overview(now=now)}
        )
    if user.is_doctor and hasattr(user, "doctor"):
        doctor = user.doctor
        today = now.astimezone(doctor.zone).date()
        schedule = selectors.doctor_schedule_for_day(doctor=doctor, day=today)
        return render(
            request,
            "portal/doctor_home.html",
            {
                "doctor": doctor,
                "today": today,
                "schedule": _with_join_windows(schedule, now),
                "doctor_time_zone": doctor.time_zone,
            },
        )
    if user.is_patient and hasattr(user, "patient"):
        patient = user.patient
        upcoming = selectors.patient_upcoming_appointments(patient=patient, now=now)
        return render(
            request,
            "portal/patient_home.html",
            {
                "patient": patient,
                "upcoming": _with_join_windows(upcoming, now),
                "past": selectors.patient_past_appointments(patient=patient, now=now),
            },
        )
    return render(request, "portal/no_profile.html", status=200)
