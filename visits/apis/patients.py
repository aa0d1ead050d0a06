from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import openapi
from clinic.negotiation import JSONWhateverAccepted
from visits import fhir, selectors, services
from visits.models import AccessLogEntry, Allergy, Condition, Medication, Patient


class AllergySerializer(serializers.ModelSerializer):
    class Meta:
        model = Allergy
        fields = ["substance", "reaction", "severity"]


class MedicationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Medication
        fields = ["name", "dose", "frequency", "started_on", "is_active", "notes"]


class ConditionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Condition
        fields = ["name", "icd10_code", "status", "onset_date", "notes"]


class PatientChartApi(APIView):
    class PatientChartSerializer(serializers.ModelSerializer):
        full_name = serializers.CharField()
        allergies = AllergySerializer(many=True)
        medications = MedicationSerializer(many=True)
        conditions = ConditionSerializer(many=True)

        class Meta:
            model = Patient
            fields = [
                "id",
                "medical_record_number",
                "full_name",
                "date_of_birth",
                "sex",
                "phone",
                "email",
                "emergency_contact_name",
                "emergency_contact_relationship",
                "emergency_contact_phone",
                "allergies",
                "medications",
                "conditions",
            ]

    @extend_schema(
        operation_id="patients_chart",
        responses={
            200: PatientChartSerializer,
            401: openapi.UNAUTHENTICATED,
            404: openapi.NOT_FOUND,
        },
    )
    def get(self, request, patient_id: int):
        patient = selectors.patient_chart_get(user=request.user, patient_id=patient_id)
        services.record_access(
            viewer=request.user,
            patient=patient,
            what=AccessLogEntry.What.CHART,
            action=AccessLogEntry.Action.VIEW,
            channel=AccessLogEntry.Channel.API,
            address=services.request_address(request),
        )
        return Response(self.PatientChartSerializer(patient).data)


class PatientRecordExportApi(APIView):
    """The patient's whole record as a FHIR R4 (4.0.1) `collection` Bundle: the patient, their
    allergies, medications and conditions, every appointment, an encounter per visit with its
    note once signed (unsigned drafts are not part of the record). For the patient, clinic
    staff, and a doctor of theirs (the chart's rule); every export is logged."""

    content_negotiation_class = JSONWhateverAccepted

    @extend_schema(
        operation_id="patients_record_export",
        responses={
            (200, fhir.FHIR_JSON): OpenApiResponse(
                OpenApiTypes.OBJECT, description="A FHIR R4 Bundle of type collection."
            ),
            401: openapi.UNAUTHENTICATED,
            404: openapi.NOT_FOUND,
        },
    )
    def get(self, request, patient_id: int):
        bundle = services.patient_record_export(
            user=request.user, patient_id=patient_id, channel=AccessLogEntry.Channel.API
        )
        return HttpResponse(fhir.bundle_json(bundle), content_type=fhir.FHIR_JSON)
