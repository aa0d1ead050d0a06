from datetime import UTC, datetime, time, timedelta

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import openapi
from clinic.pagination import PageNumberPagination
from visits import selectors, services
from visits.models import Appointment, AppointmentStatus, Patient

UTC_MIDNIGHT = time(0, tzinfo=UTC)


class AppointmentOutputSerializer(serializers.ModelSerializer):
    room_url = serializers.SerializerMethodField()

    class Meta:
        model = Appointment
        fields = [
            "id",
            "doctor",
            "patient",
            "start",
            "end",
            "status",
            "reason",
            "cancellation_reason",
            "room_url",
        ]

    def get_room_url(self, appointment: Appointment) -> str:
        path = reverse("rooms:room", args=[appointment.room_id])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def to_representation(self, appointment: Appointment) -> dict:
        # Written out rather than through the fields (which stay the schema's): a
        # ModelSerializer builds its fields from the model anew for every instance, which cost
        # more than the rest of a booking's Python. The same output as the fields gave.
        zone = appointment.doctor.zone  # times read in the doctor's zone, as their slots do
        return {
            "id": appointment.id,
            "doctor": appointment.doctor_id,
            "patient": appointment.patient_id,
            "start": appointment.start.astimezone(zone).isoformat(),
            "end": appointment.end.astimezone(zone).isoformat(),
            "status": str(appointment.status),
            "reason": appointment.reason,
            "cancellation_reason": appointment.cancellation_reason,
            "room_url": self.get_room_url(appointment),
        }


def _appointment_response(request, appointment: Appointment, code=status.HTTP_200_OK):
    return Response(
        AppointmentOutputSerializer(appointment, context={"request": request}).data, status=code
    )


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time that must carry its UTC offset: a bare wall time is ambiguous
    between the patient's, the doctor's and the server's zone, so it is refused, not guessed."""

    default_error_messages = {
        "naive": "Give the time with a UTC offset, e.g. 2030-01-15T09:00:00+09:00.",
    }

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)


class AppointmentListCreateApi(APIView):
    pagination_class = PageNumberPagination  # also tells the schema the list is paginated
    user_profiles = ("patient",)  # a booking asks request.user.patient (authentication.py)

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=AppointmentStatus.choices, required=False)
        date_from = serializers.DateField(
            required=False, help_text="First UTC day to include (by start)."
        )
        date_to = serializers.DateField(
            required=False, help_text="Last UTC day to include (by start)."
        )

        def validate(self, data):
            if (
                data.get("date_from")
                and data.get("date_to")
                and data["date_to"] < data["date_from"]
            ):
                raise serializers.ValidationError({"date_to": ["Must not be before date_from."]})
            return data

    class BookingSerializer(serializers.Serializer):
        doctor = serializers.IntegerField(min_value=1)
        start = AwareDateTimeField(help_text="A slot start, with its UTC offset.")
        reason = serializers.CharField(max_length=500)
        patient = serializers.IntegerField(
            min_value=1, required=False, help_text="Clinic staff only: whom to book."
        )

    @extend_schema(
        operation_id="appointments_list",
        parameters=[FilterSerializer],
        responses={
            200: AppointmentOutputSerializer(many=True),
            400: openapi.BAD_REQUEST,
            401: openapi.UNAUTHENTICATED,
            404: openapi.NOT_FOUND,
        },
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        appointments = selectors.appointment_list(
            user=request.user,
            status=data.get("status"),
            start_from=_utc_midnight(data.get("date_from")),
            start_before=_utc_midnight(data.get("date_to"), days_after=1),
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(appointments, request, view=self)
        output = AppointmentOutputSerializer(page, many=True, context={"request": request})
        return paginator.get_paginated_response(output.data)

    @extend_schema(
        operation_id="appointments_create",
        request=BookingSerializer,
        responses={
            201: AppointmentOutputSerializer,
            400: openapi.BAD_REQUEST,
            401: openapi.UNAUTHENTICATED,
            403: openapi.FORBIDDEN,
            409: openapi.CONFLICT,
        },
    )
    def post(self, request):
        serializer = self.BookingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        patient_id = data.get("patient")
        appointment = services.appointment_book(
            booked_by=request.user,
            doctor=selectors.doctor_get_with_working_hours(doctor_id=data["doctor"]),
            patient=_patient_or_error(patient_id) if patient_id else None,
            start=data["start"],
            reason=data["reason"],
        )
        return _appointment_response(request, appointment, status.HTTP_201_CREATED)


def _utc_midnight(day, days_after: int = 0):
    if day is None:
        return None
    try:
        day += timedelta(days=days_after)
    except OverflowError:
        return None  # after the calendar's last day: no bound
    return datetime.combine(day, UTC_MIDNIGHT)


def _patient_or_error(patient_id: int) -> Patient:
    patient = Patient.objects.filter(pk=patient_id).first()
    if patient is None:
        raise serializers.ValidationError({"patient": ["Unknown patient."]})
    return patient


class AppointmentDetailApi(APIView):
    @extend_schema(
        operation_id="appointments_retrieve",
        responses={
            200: AppointmentOutputSerializer,
            401: openapi.UNAUTHENTICATED,
            404: openapi.NOT_FOUND,
        },
    )
    def get(self, request, appointment_id: int):
        appointment = selectors.appointment_get(user=request.user, appointment_id=appointment_id)
        return _appointment_response(request, appointment)


TRANSITION_RESPONSES = {
    200: AppointmentOutputSerializer,
    400: openapi.BAD_REQUEST,
    401: openapi.UNAUTHENTICATED,
    403: openapi.FORBIDDEN,
    404: openapi.NOT_FOUND,
    409: openapi.CONFLICT,
}


# The base of the status-changing actions; `action` names a key of services.TRANSITIONS. (A
# comment, not a docstring: the schema would show a docstring as every action's description.)
class AppointmentTransitionApi(APIView):
    action: str = ""

    def post(self, request, appointment_id: int):
        appointment = services.appointment_transition(
            user=request.user, appointment_id=appointment_id, action=self.action
        )
        return _appointment_response(request, appointment)


class AppointmentCancelApi(AppointmentTransitionApi):
    action = "cancel"

    class CancellationSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=500)

    @extend_schema(
        operation_id="appointments_cancel",
        request=CancellationSerializer,
        responses=TRANSITION_RESPONSES,
    )
    def post(self, request, appointment_id: int):
        serializer = self.CancellationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        appointment = services.appointment_transition(
            user=request.user,
            appointment_id=appointment_id,
            action=self.action,
            reason=serializer.validated_data["reason"],
        )
        return _appointment_response(request, appointment)


def _doctor_action(action: str, summary: str) -> type[AppointmentTransitionApi]:
    """The doctor's one-click actions differ only in the transition they ask for."""

    @extend_schema(
        operation_id=f"appointments_{action}",
        summary=summary,
        request=None,
        responses=TRANSITION_RESPONSES,
    )
    def post(self, request, appointment_id: int):
        return AppointmentTransitionApi.post(self, request, appointment_id)

    name = "Appointment" + action.title().replace("_", "") + "Api"
    return type(name, (AppointmentTransitionApi,), {"action": action, "post": post})


AppointmentConfirmApi = _doctor_action("confirm", "The doctor confirms a requested visit.")
AppointmentCompleteApi = _doctor_action("complete", "The doctor marks a visit as done.")
AppointmentNoShowApi = _doctor_action("no_show", "The doctor records that the patient never came.")


class AppointmentRescheduleApi(APIView):
    class RescheduleSerializer(serializers.Serializer):
        start = AwareDateTimeField(help_text="A free slot start, with its UTC offset.")

    @extend_schema(
        operation_id="appointments_reschedule",
        request=RescheduleSerializer,
        responses=TRANSITION_RESPONSES,
    )
    def post(self, request, appointment_id: int):
        serializer = self.RescheduleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        appointment = services.appointment_reschedule(
            user=request.user,
            appointment_id=appointment_id,
            start=serializer.validated_data["start"],
        )
        return _appointment_response(request, appointment)
