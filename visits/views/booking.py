"""The portal's booking pages: a patient picks a doctor, a day and a free slot; cancels and
reschedules. Same services as the REST API, so the same rules hold."""

from datetime import date, timedelta
from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from clinic.errors import ApplicationError, NotFoundError
from visits import selectors, services
from visits.models import Doctor

BOOKING_DAYS = 14


def patient_required(view):
    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not (request.user.is_patient and hasattr(request.user, "patient")):
            raise PermissionDenied("Booking here is for patients; clinic staff use the admin.")
        return view(request, *args, **kwargs)

    return wrapper


class SlotForm(forms.Form):
    start = forms.DateTimeField(widget=forms.HiddenInput)


class BookingForm(SlotForm):
    reason = forms.CharField(
        max_length=500,
        label="Reason for the visit",
        help_text="A few words for your doctor, e.g. “Follow-up on blood pressure”.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=500, label="Why are you cancelling?")


def _add_error(form: forms.Form, error: ApplicationError) -> None:
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)


def _chosen_day(request: HttpRequest, doctor: Doctor) -> tuple[date, list[date]]:
    today = timezone.now().astimezone(doctor.zone).date()
    days = [today + timedelta(days=offset) for offset in range(BOOKING_DAYS)]
    try:
        chosen = date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        chosen = today
    return (chosen if chosen in days else today), days


def _slot_page(request, *, doctor, form, template_context, exclude_appointment_id=None, status=200):
    day, days = _chosen_day(request, doctor)
    slots = selectors.doctor_free_slots(
        doctor=doctor, day=day, now=timezone.now(), exclude_appointment_id=exclude_appointment_id
    )
    context = {"doctor": doctor, "day": day, "days": days, "slots": slots, "form": form}
    return render(request, "portal/book_slots.html", context | template_context, status=status)


@patient_required
def book_choose_doctor(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:120]
    doctors = selectors.doctor_list(search=search or None)
    return render(request, "portal/book_doctors.html", {"doctors": doctors, "search": search})


@patient_required
def book_choose_slot(request: HttpRequest, doctor_id: int) -> HttpResponse:
    doctor = selectors.doctor_get_active(doctor_id=doctor_id)
    if doctor is None:
        raise Http404("No such doctor.")
    form = BookingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            appointment = services.appointment_book(
                booked_by=request.user,
                doctor=doctor,
                start=form.cleaned_data["start"],
                reason=form.cleaned_data["reason"],
            )
        except ApplicationError as error:
            _add_error(form, error)
        else:
            local_start = appointment.start.astimezone(doctor.zone)
            messages.success(
                request,
                f"Visit requested with {doctor} on {local_start:%a %d %b, %H:%M} "
                f"({doctor.time_zone}). The clinic will confirm it.",
            )
            return redirect("portal:home")
    status = 400 if request.method == "POST" else 200
    return _slot_page(
        request, doctor=doctor, form=form, template_context={"mode": "book"}, status=status
    )


@patient_required
def reschedule(request: HttpRequest, appointment_id: int) -> HttpResponse:
    try:
        appointment = selectors.appointment_get(
            user=request.user,
            appointment_id=appointment_id,
            capability=selectors.Capability.RESCHEDULE,
        )
    except NotFoundError as error:  # not yours either: the portal confirms nothing
        raise Http404(error.message) from error
    form = SlotForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.appointment_reschedule(
                user=request.user, appointment_id=appointment.pk, start=form.cleaned_data["start"]
            )
        except ApplicationError as error:
            _add_error(form, error)
        else:
            messages.success(request, "Your visit has been moved.")
            return redirect("portal:home")
    return _slot_page(
        request,
        doctor=selectors.doctor_get_active(doctor_id=appointment.doctor_id) or appointment.doctor,
        form=form,
        template_context={"mode": "reschedule", "appointment": appointment},
        exclude_appointment_id=appointment.pk,
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@patient_required
def cancel(request: HttpRequest, appointment_id: int) -> HttpResponse:
    form = CancelForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Please say why you are cancelling.")
        return redirect("portal:home")
    try:
        services.appointment_transition(
            user=request.user,
            appointment_id=appointment_id,
            action="cancel",
            reason=form.cleaned_data["reason"],
        )
    except NotFoundError as error:
        raise Http404(error.message) from error
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Your visit has been cancelled.")
    return redirect("portal:home")
