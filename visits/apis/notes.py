from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import openapi
from clinic.pagination import PageNumberPagination
from visits import selectors, services
from visits.models import AccessLogEntry, VisitNote, VisitNoteAddendum, VisitNoteVersion
from visits.selectors import Capability
from visits.services.records import (
    ADDENDUM_MAX_LENGTH,
    NOTE_SECTION_MAX_LENGTH,
    visit_note_is_closed,
)

What, Action, Channel = AccessLogEntry.What, AccessLogEntry.Action, AccessLogEntry.Channel


class VisitNoteAddendumSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.display_name", read_only=True)
    text_hash = serializers.CharField(read_only=True, help_text="SHA-256 (hex) of `text`.")

    class Meta:
        model = VisitNoteAddendum
        fields = ["id", "text", "author", "created_at", "text_hash"]


class VisitNoteSerializer(serializers.ModelSerializer):
    # Null until the first save (GET answers an unsaved, empty note at version 0).
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)
    closed = serializers.SerializerMethodField(
        help_text="The visit is completed: the note is no longer saved, only added to."
    )
    signed = serializers.BooleanField(source="is_signed", read_only=True)
    signed_by = serializers.CharField(
        source="signer_name", read_only=True, help_text="Who signed; empty until signed."
    )
    signed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    signed_hash = serializers.CharField(
        read_only=True, help_text="SHA-256 (hex) of the text signed; empty until signed."
    )
    signature_intact = serializers.BooleanField(
        read_only=True,
        allow_null=True,
        help_text="The text still hashes to `signed_hash` (null until signed).",
    )
    addenda = serializers.SerializerMethodField()

    class Meta:
        model = VisitNote
        fields = [
            "subjective",
            "objective",
            "assessment",
            "plan",
            "version",
            "updated_at",
            "closed",
            "signed",
            "signed_by",
            "signed_at",
            "signed_hash",
            "signature_intact",
            "addenda",
        ]

    def get_closed(self, note: VisitNote) -> bool:
        return visit_note_is_closed(appointment=note.appointment)

    @extend_schema_field(VisitNoteAddendumSerializer(many=True))
    def get_addenda(self, note: VisitNote) -> list:
        return VisitNoteAddendumSerializer(selectors.visit_note_addenda(note=note), many=True).data


class VisitNoteVersionSerializer(serializers.ModelSerializer):
    saved_by = serializers.CharField(source="saved_by.display_name", read_only=True)

    class Meta:
        model = VisitNoteVersion
        fields = ["version", *VisitNote.SECTIONS, "saved_by", "saved_at"]


def _section():
    return serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=NOTE_SECTION_MAX_LENGTH
    )


class VisitNoteApi(APIView):
    """The SOAP note of a visit: read by its doctor and clinic staff (every read is logged),
    written by its doctor until the visit is completed."""

    class NoteSaveSerializer(serializers.Serializer):
        subjective = _section()
        objective = _section()
        assessment = _section()
        plan = _section()
        version = serializers.IntegerField(
            min_value=0, help_text="The version this edit started from (0 for a new note)."
        )

    @extend_schema(
        operation_id="appointments_note_retrieve",
        responses={
            200: VisitNoteSerializer,
            401: openapi.UNAUTHENTICATED,
            403: openapi.FORBIDDEN,
            404: openapi.NOT_FOUND,
        },
    )
    def get(self, request, appointment_id: int):
        appointment = selectors.appointment_get(
            user=request.user, appointment_id=appointment_id, capability=Capability.READ_NOTE
        )
        note = selectors.visit_note_for(appointment=appointment)
        services.record_access(
            viewer=request.user,
            what=What.NOTE,
            action=Action.VIEW,
            channel=Channel.API,
            address=services.request_address(request),
            appointment=appointment,
        )
        return Response(VisitNoteSerializer(note).data)

    @extend_schema(
        operation_id="appointments_note_save",
        request=NoteSaveSerializer,
        responses={
            200: VisitNoteSerializer,
            400: openapi.BAD_REQUEST,
            401: openapi.UNAUTHENTICATED,
            403: openapi.FORBIDDEN,
            404: openapi.NOT_FOUND,
            409: openapi.CONFLICT,
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
            channel=Channel.API,
            address=services.request_address(request),
        )
        return Response(VisitNoteSerializer(note).data)


class VisitNoteVersionsApi(APIView):
    """Every saved state of a visit's note, newest first: for the visit's doctor and clinic
    staff."""

    pagination_class = PageNumberPagination

    @extend_schema(
        operation_id="appointments_note_versions",
        responses={
            200: VisitNoteVersionSerializer(many=True),
            401: openapi.UNAUTHENTICATED,
            403: openapi.FORBIDDEN,
            404: openapi.NOT_FOUND,
        },
    )
    def get(self, request, appointment_id: int):
        appointment = selectors.appointment_get(
            user=request.user,
            appointment_id=appointment_id,
            capability=Capability.READ_NOTE_HISTORY,
        )
        services.record_access(
            viewer=request.user,
            what=What.NOTE_HISTORY,
            action=Action.LIST,
            channel=Channel.API,
            address=services.request_address(request),
            appointment=appointment,
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            selectors.visit_note_versions(appointment=appointment), request, view=self
        )
        return paginator.get_paginated_response(VisitNoteVersionSerializer(page, many=True).data)


class VisitNoteSignApi(APIView):
    """The visit's doctor signs its note: from then on it is read-only (saves answer 409 with
    `code` "note_signed") and later changes are addenda."""

    class SignSerializer(serializers.Serializer):
        version = serializers.IntegerField(
            min_value=1, help_text="The version being signed: the one the doctor is looking at."
        )

    @extend_schema(
        operation_id="appointments_note_sign",
        request=SignSerializer,
        responses={
            200: VisitNoteSerializer,
            400: openapi.BAD_REQUEST,
            401: openapi.UNAUTHENTICATED,
            403: openapi.FORBIDDEN,
            404: openapi.NOT_FOUND,
            409: openapi.CONFLICT,
        },
    )
    def post(self, request, appointment_id: int):
        serializer = self.SignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        note = services.visit_note_sign(
            user=request.user,
            appointment_id=appointment_id,
            base_version=serializer.validated_data["version"],
            channel=Channel.API,
            address=services.request_address(request),
        )
        return Response(VisitNoteSerializer(note).data)


class VisitNoteAddendumApi(APIView):
    """A dated addition to a signed note or a completed visit's, by its doctor; never changed
    afterwards."""

    class AddendumSerializer(serializers.Serializer):
        text = serializers.CharField(max_length=ADDENDUM_MAX_LENGTH)

    @extend_schema(
        operation_id="appointments_note_addendum_create",
        request=AddendumSerializer,
        responses={
            201: VisitNoteAddendumSerializer,
            400: openapi.BAD_REQUEST,
            401: openapi.UNAUTHENTICATED,
            403: openapi.FORBIDDEN,
            404: openapi.NOT_FOUND,
            409: openapi.CONFLICT,
        },
    )
    def post(self, request, appointment_id: int):
        serializer = self.AddendumSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        addendum = services.visit_note_addendum_add(
            user=request.user,
            appointment_id=appointment_id,
            text=serializer.validated_data["text"],
            channel=Channel.API,
            address=services.request_address(request),
        )
        return Response(VisitNoteAddendumSerializer(addendum).data, status=status.HTTP_201_CREATED)
