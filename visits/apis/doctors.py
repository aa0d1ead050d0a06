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
        slots = selectors.doctor_free_slots(doctor=doctor, day=day, now=timezone.now())
        output = {"doctor": doctor.id, "date": day, "time_zone": doctor.time_zone, "slots": slots}
        with timezone.override(doctor.zone):  # slot times carry the doctor's UTC offset
            return Response(self.DaySlotsSerializer(output).data)
