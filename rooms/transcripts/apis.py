"""The transcripts API: a visit's transcript (JSON, or exported as text or WebVTT), the doctor's
correction of a segment, the AI scribe's draft note, and transcribing a recording after the
visit (docs/transcripts.md).

Who may do what is the selectors' (rooms.transcripts.selectors): the visit's doctor and clinic
staff read its transcript, its patient once the visit is over; only its doctor corrects it and
asks for (and reads) a draft note; anyone else gets 404.
"""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import openapi
from clinic.errors import ApplicationError
from clinic.negotiation import JSONWhateverAccepted
from rooms.transcripts import exports, selectors
from rooms.transcripts.models import DraftNote, Transcription
from rooms.transcripts.selectors import TranscriptStatus
from rooms.transcripts.services.corrections import MAX_CORRECTION_CHARS, segment_correct
from rooms.transcripts.services.draft_notes import draft_note_frame, draft_note_request
from rooms.transcripts.services.recording import recording_transcription_request
from rooms.transcripts.services.segments import segment_frame
from visits.models import AccessLogEntry, Role
from visits.services import record_access, request_address

What, Action, Channel = AccessLogEntry.What, AccessLogEntry.Action, AccessLogEntry.Channel
EXPORTS = {
    "txt": ("text/plain; charset=utf-8", exports.transcript_text),
    "vtt": ("text/vtt; charset=utf-8", exports.transcript_vtt),
}


class SpeakerSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    role = serializers.ChoiceField(choices=Role.choices)
    display_name = serializers.CharField()


class SegmentSerializer(serializers.Serializer):
    """The shape of rooms.transcripts.services.segments.segment_frame (the audio socket's too)."""

    id = serializers.IntegerField()
    speaker = SpeakerSerializer(allow_null=True, help_text="Null when the engine cannot tell.")
    start_ms = serializers.IntegerField(help_text="From the start of the visit's transcript.")
    end_ms = serializers.IntegerField()
    text = serializers.CharField(help_text="What the engine heard; never changed.")
    corrected_text = serializers.CharField(
        allow_blank=True, help_text="The doctor's correction; empty when there is none."
    )
    engine = serializers.CharField()


class TranscriptSerializer(serializers.Serializer):
    appointment = serializers.IntegerField()
    status = serializers.ChoiceField(choices=[(s.value, s.value) for s in TranscriptStatus])
    segments = SegmentSerializer(many=True)


class StrictTextField(serializers.CharField):
    """Text only: DRF's CharField would take 12 for "12", and a correction is what was said."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class CorrectionSerializer(serializers.Serializer):
    corrected_text = StrictTextField(
        allow_blank=True,
        max_length=MAX_CORRECTION_CHARS,
        trim_whitespace=True,
        help_text="What was said; empty takes the correction back.",
    )


class DraftNoteSectionsSerializer(serializers.Serializer):
    subjective = serializers.CharField(allow_blank=True)
    objective = serializers.CharField(allow_blank=True)
    assessment = serializers.CharField(allow_blank=True)
    plan = serializers.CharField(allow_blank=True)


class DraftNoteCitationsSerializer(serializers.Serializer):
    subjective = serializers.ListField(child=serializers.IntegerField())
    objective = serializers.ListField(child=serializers.IntegerField())
    assessment = serializers.ListField(child=serializers.IntegerField())
    plan = serializers.ListField(child=serializers.IntegerField())


class DraftNoteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=DraftNote.Status.choices)
    sections = DraftNoteSectionsSerializer()
    cited_segments = DraftNoteCitationsSerializer(
        help_text="Per section, the ids of the transcript segments it is drawn from."
    )
    model = serializers.CharField()
    failure = serializers.CharField(allow_blank=True)
    requested_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


def _export_filename(appointment, extension: str) -> str:
    return f"transcript-{appointment.start:%Y-%m-%d}-{appointment.pk}.{extension}"


class TranscriptApi(APIView):
    """The visit's transcript, every segment in time order; `?format=txt` or `?format=vtt`
    exports it (corrections in place of what was heard)."""

    content_negotiation_class = JSONWhateverAccepted

    @extend_schema(
        operation_id="appointments_transcript_retrieve",
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=["json", *EXPORTS],
                description="json (the default), txt (plain text) or vtt (WebVTT).",
            )
        ],
        responses={
            (200, "application/json"): TranscriptSerializer,
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="Plain text."),
            (200, "text/vtt"): OpenApiResponse(OpenApiTypes.STR, description="WebVTT."),
            400: openapi.BAD_REQUEST,
            401: openapi.UNAUTHENTICATED,
            403: OpenApiResponse(
                openapi.ERROR_DETAIL, description="Its patient, before the visit is over."
            ),
            404: openapi.NOT_FOUND,
        },
    )
    def get(self, request, appointment_id: int):
        wanted = request.query_params.get("format", "json")
        if wanted != "json" and wanted not in EXPORTS:
            raise ApplicationError("format must be json, txt or vtt.")
        transcript = selectors.transcript_get(user=request.user, appointment_id=appointment_id)
        segments = list(transcript.segments)
        appointment = transcript.appointment
        record_access(
            viewer=request.user,
            what=What.TRANSCRIPT,
            action=Action.VIEW if wanted == "json" else Action.DOWNLOAD,
            channel=Channel.API,
            address=request_address(request),
            appointment=appointment,
            record=f"{len(segments)} segments" + ("" if wanted == "json" else f" as {wanted}"),
        )
        if wanted == "json":
            return Response(
                {
                    "appointment": appointment.pk,
                    "status": transcript.status.value,
                    "segments": [segment_frame(segment) for segment in segments],
                }
            )
        content_type, render = EXPORTS[wanted]
        response = HttpResponse(
            render(title=str(appointment), segments=segments), content_type=content_type
        )
        filename = _export_filename(appointment, wanted)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class TranscriptSegmentApi(APIView):
    @extend_schema(
        operation_id="transcript_segments_partial_update",
        request=CorrectionSerializer,
        responses={
            200: SegmentSerializer,
            400: openapi.BAD_REQUEST,
            401: openapi.UNAUTHENTICATED,
            403: openapi.FORBIDDEN,
            404: openapi.NOT_FOUND,
        },
    )
    def patch(self, request, segment_id: int):
        """Correct what the engine heard; the original stays (`text`). The visit's doctor only."""
        body = CorrectionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        segment = segment_correct(
            user=request.user,
            segment_id=segment_id,
            corrected_text=body.validated_data["corrected_text"],
            address=request_address(request),
        )
        return Response(segment_frame(segment))


class DraftNoteApi(APIView):
    """The AI scribe's draft of the visit's SOAP note, for its doctor: POST asks for one (202;
    it arrives in the room as draft_note.ready, and here), GET reads the latest."""

    @extend_schema(
        operation_id="appointments_draft_note_retrieve",
        responses={200: DraftNoteSerializer, 401: openapi.UNAUTHENTICATED, 404: openapi.NOT_FOUND},
    )
    def get(self, request, appointment_id: int):
        draft = selectors.draft_note_latest_get(user=request.user, appointment_id=appointment_id)
        record_access(
            viewer=request.user,
            what=What.DRAFT_NOTE,
            action=Action.VIEW,
            channel=Channel.API,
            address=request_address(request),
            appointment=draft.appointment,
            record=f"draft note {draft.pk}",
        )
        return Response(draft_note_frame(draft))

    @extend_schema(
        operation_id="appointments_draft_note_create",
        request=None,
        responses={
            202: OpenApiResponse(DraftNoteSerializer, description="Being drafted."),
            400: openapi.BAD_REQUEST,
            401: openapi.UNAUTHENTICATED,
            404: openapi.NOT_FOUND,
            409: OpenApiResponse(
                openapi.ERROR_DETAIL,
                description="No language model is configured, or there is no transcript yet.",
            ),
        },
    )
    def post(self, request, appointment_id: int):
        draft = draft_note_request(
            user=request.user, appointment_id=appointment_id, address=request_address(request)
        )
        return Response(draft_note_frame(draft), status=status.HTTP_202_ACCEPTED)


class RecordingTranscriptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    appointment = serializers.IntegerField(source="appointment_id")
    recording = serializers.UUIDField(source="recording_id")
    status = serializers.ChoiceField(choices=Transcription.Status.choices)
    engine = serializers.CharField()
    requested_at = serializers.DateTimeField()


class RecordingTranscriptionApi(APIView):
    """Transcribe a recording after the visit, in the worker, with the configured engine (its
    segments join the visit's transcript; GET the transcript to follow: `processing`, then
    `ready`). The visit's doctor only, once everyone heard in it allowed transcription."""

    @extend_schema(
        operation_id="recordings_transcription_create",
        request=None,
        responses={
            202: OpenApiResponse(RecordingTranscriptionSerializer, description="Queued."),
            400: openapi.BAD_REQUEST,
            401: openapi.UNAUTHENTICATED,
            403: openapi.FORBIDDEN,
            404: openapi.NOT_FOUND,
            409: OpenApiResponse(
                openapi.ERROR_DETAIL,
                description="Not ready, transcribed already (or live), or a consent is missing.",
            ),
        },
    )
    def post(self, request, recording_id):
        transcription = recording_transcription_request(
            user=request.user, recording_id=recording_id, address=request_address(request)
        )
        return Response(
            RecordingTranscriptionSerializer(transcription).data,
            status=status.HTTP_202_ACCEPTED,
        )
