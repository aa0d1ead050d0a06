from datetime import datetime

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import openapi
from clinic.errors import NotFoundError
from clinic.pagination import PageNumberPagination
from visits import selectors
from visits.selectors import BOOKING_HORIZON


class DoctorSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()
    specialty = serializers.CharField()


class SlotSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class DoctorListApi(APIView):
    pagination_class = PageNumberPagination  # also tells the schema the list is paginated

    class FilterSerializer(serializers.Serializer):
        specialty = serializers.CharField(required=False, max_length=120)
        search = serializers.CharField(required=False, max_length=120)

    @extend_schema(
        operation_id="doctors_list",
        parameters=[FilterSerializer],
        responses={
            200: DoctorSummarySerializer(many=True),
            400: openapi.BAD_REQUEST,
            401: openapi.UNAUTHENTICATED,
            404: openapi.NOT_FOUND,
        },
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        doctors = selectors.doctor_list(**filters.validated_data)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(doctors, request, view=self)
        return paginator.get_paginated_response(DoctorSummarySerializer(page, many=True).data)


class DoctorSlotsApi(APIView):
    class FilterSerializer(serializers.Serializer):
        date = serializers.DateField(help_text="A day in the doctor's time zone.")

        def validate_date(self, value):
            if value > timezone.localdate() + BOOKING_HORIZON:
                raise serializers.ValidationError("Slots can be listed at most a year ahead.")
            return value

    class DaySlotsSerializer(serializers.Serializer):
        doctor = serializers.IntegerField()
        date = serializers.DateField()
        time_zone = serializers.CharField()
        slots = SlotSerializer(many=True)

    @extend_schema(
        operation_id="doctors_slots",
        parameters=[
            FilterSerializer,
            OpenApiParameter("doctor_id", int, OpenApiParameter.PATH, description="Doctor id."),
        ],
        responses={
            200: DaySlotsSerializer,
            400: openapi.BAD_REQUEST,
            401: openapi.UNAUTHENTICATED,
            404: openapi.NOT_FOUND,
        },
    )
    def get(self, request, doctor_id: int):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        doctor = selectors.doctor_get_active(doctor_id=doctor_id)
        if doctor is None:
            raise NotFoundError("No such doctor.")
        day = filters.validated_data["date"]
        slots = selectors.doctor_free_slot_instants(doctor=doctor, day=day, now=timezone.now())
        # Built by hand, not by DaySlotsSerializer (which stays the schema's): a long day has
        # hundreds of slots, and DRF's DateTimeField, even datetime.isoformat, costs more per
        # slot than the rest of the request. The same text as DRF's.
        return Response(
            {
                "doctor": doctor.id,
                "date": day.isoformat(),
                "time_zone": doctor.time_zone,
                "slots": _slots_in_zone(slots, doctor.zone),
            }
        )


def _iso_8601(value: datetime) -> str:
    """An aware datetime as DRF's DateTimeField writes it: ISO 8601, "Z" for UTC."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# "HH:MM:00" for every minute of a day.
_CLOCK = tuple(f"{hour:02d}:{minute:02d}:00" for hour in range(24) for minute in range(60))


def _slots_in_zone(slots: list[tuple[datetime, datetime]], zone) -> list[dict[str, str]]:
    """[{"start", "end"}] of UTC instants, written as _iso_8601 writes them in `zone`."""
    if not slots:
        return []
    first, last = slots[0][0].astimezone(zone), slots[-1][1].astimezone(zone)
    offset = first.utcoffset()
    if last.utcoffset() != offset or first.microsecond:
        # The clocks change this day: each instant its own offset, the slow way.
        return [
            {"start": _iso_8601(start.astimezone(zone)), "end": _iso_8601(end.astimezone(zone))}
            for start, end in slots
        ]
    suffix = _iso_8601(first)[19:]  # after YYYY-MM-DDTHH:MM:SS: "Z" or "+05:30"
    day_prefixes: dict[int, str] = {}

    def text(instant: datetime) -> str:
        wall = instant + offset  # the zone's wall time (the offset holds all day)
        if wall.second or wall.microsecond:
            return _iso_8601(instant.astimezone(zone))
        prefix = day_prefixes.get(wall.day)
        if prefix is None:
            prefix = day_prefixes[wall.day] = f"{wall.date().isoformat()}T"
        return prefix + _CLOCK[wall.hour * 60 + wall.minute] + suffix

    return [{"start": text(start), "end": text(end)} for start, end in slots]
