from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import openapi
from visits import selectors, services
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
