from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic.errors import NotFoundError, PermissionDeniedError
from visits import selectors, services
from visits.apis import errors
from visits.models import VisitNote
from visits.services.appointments import ADMIN, DOCTOR, appointment_actor
from visits.services.records import NOTE_SECTION_MAX_LENGTH


class VisitNoteSerializer(serializers.ModelSerializer):
    # Null until the first save (GET answers an unsaved, empty note at version 0).
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = VisitNote
        fields = ["subjective", "objective", "assessment", "plan", "version", "updated_at"]


def _section():
    return serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=NOTE_SECTION_MAX_LENGTH
    )


class VisitNoteApi(APIView):
    """The SOAP note of a visit: read by its doctor and clinic staff, written by its doctor."""

    class NoteSaveSerializer(serializers.Serializer):
        subjective = _section()
        objective = _section()
        assessment = _section()
        plan = _section()
        version = serializers.IntegerField(
            min_value=0, help_text="The version this edit started from (0 for a new note)."
        )

    def _appointment(self, request, appointment_id):
        appointment = selectors.appointment_get(user=request.user, appointment_id=appointment_id)
        if appointment is None:
            raise NotFoundError("No such appointment.")
        if appointment_actor(user=request.user, appointment=appointment) not in (DOCTOR, ADMIN):
            raise PermissionDeniedError("Visit notes are for the doctor.")
        return appointment

    @extend_schema(
        operation_id="appointments_note_retrieve",
        responses={
            200: VisitNoteSerializer,
            401: errors.UNAUTHENTICATED,
            403: errors.FORBIDDEN,
            404: errors.NOT_FOUND,
        },
    )
    def get(self, request, appointment_id: int):
        note = selectors.visit_note_for(appointment=self._appointment(request, appointment_id))
        return Response(VisitNoteSerializer(note).data)

    @extend_schema(
        operation_id="appointments_note_save",
        request=NoteSaveSerializer,
        responses={
            200: VisitNoteSerializer,
            400: errors.BAD_REQUEST,
            401: errors.UNAUTHENTICATED,
            403: errors.FORBIDDEN,
            404: errors.NOT_FOUND,
            409: errors.CONFLICT,
        },
    )
    def put(self, request, appointment_id: int):
        serializer = self.NoteSaveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        base_version = data.pop("version")
        note = services.visit_note_save(
            user=request.user,
            appointment_id=appointment_id,
            sections=data,
            base_version=base_version,
        )
        return Response(VisitNoteSerializer(note).data)
