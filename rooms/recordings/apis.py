"""The recordings API: list and read a visit's recordings, play or download one (HTTP Range,
decrypted as it streams), and the recorder's chunk upload.

Who may do what is the access rule's (visits.selectors, in rooms.recordings.selectors and the
services): the visit's patient, doctor and clinic staff see its recordings; anyone else gets
404 from every endpoint; only the recording doctor uploads.
"""

import re
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import parsers, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import openapi
from clinic.negotiation import JSONWhateverAccepted
from rooms.recordings import selectors
from rooms.recordings.encryption import DecryptedFile
from rooms.recordings.models import Recording, RecordingConsent
from rooms.recordings.services.chunks import recording_chunk_put
from rooms.recordings.services.playback import recording_media_open, recording_record_label
from visits import selectors as visit_selectors
from visits.models import AccessLogEntry, Role
from visits.selectors import Capability
from visits.services import record_access, request_address

What, Action, Channel = AccessLogEntry.What, AccessLogEntry.Action, AccessLogEntry.Channel
LISTED_STATUS_CHOICES = [(value, Recording.Status(value).label) for value in Recording.LISTED]


class RecordingConsentSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    role = serializers.ChoiceField(choices=Role.choices)
    decision = serializers.ChoiceField(choices=RecordingConsent.Decision.choices)
    at = serializers.DateTimeField()


class RecordingSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    appointment = serializers.IntegerField(source="appointment_id")
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.FloatField(allow_null=True)
    size_bytes = serializers.IntegerField(allow_null=True)
    sha256 = serializers.CharField(
        allow_null=True, help_text="Of the playable file (hex); null until it is ready."
    )
    status = serializers.ChoiceField(choices=LISTED_STATUS_CHOICES)
    consents = RecordingConsentSerializer(many=True, help_text="Every decision, oldest first.")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["sha256"] = data["sha256"] or None
        return data


class RecordingListApi(APIView):
    """A visit's recordings (those something was recorded in and not deleted), oldest first."""

    @extend_schema(
        operation_id="appointments_recordings_list",
        responses={
            200: RecordingSerializer(many=True),
            401: openapi.UNAUTHENTICATED,
            404: openapi.NOT_FOUND,
        },
    )
    def get(self, request, appointment_id: int):
        appointment = visit_selectors.appointment_get(
            user=request.user,
            appointment_id=appointment_id,
            capability=Capability.VIEW_RECORDINGS,
        )
        recordings = selectors.recording_list(user=request.user, appointment=appointment)
        record_access(
            viewer=request.user,
            what=What.RECORDING,
            action=Action.LIST,
            channel=Channel.API,
            address=request_address(request),
            appointment=appointment,
        )
        return Response(RecordingSerializer(recordings, many=True).data)


class RecordingDetailApi(APIView):
    @extend_schema(
        operation_id="recordings_retrieve",
        responses={200: RecordingSerializer, 401: openapi.UNAUTHENTICATED, 404: openapi.NOT_FOUND},
    )
    def get(self, request, recording_id):
        recording = selectors.recording_get(user=request.user, recording_id=recording_id)
        record_access(
            viewer=request.user,
            what=What.RECORDING,
            action=Action.VIEW,
            channel=Channel.API,
            address=request_address(request),
            appointment=recording.appointment,
            record=recording_record_label(recording),
        )
        return Response(RecordingSerializer(recording).data)


MEDIA_TYPE = "video/webm"
MEDIA_BODY = OpenApiResponse(OpenApiTypes.BINARY, description="The recording (WebM).")
RANGE_NOT_SATISFIABLE = OpenApiResponse(
    openapi.ERROR_DETAIL,
    description="The Range lies outside the file; Content-Range says its length (bytes */N).",
)
NOT_READY = OpenApiResponse(
    openapi.ERROR_DETAIL,
    description="Listed, but not playable yet (still recording, processing) or failed.",
)


class RecordingMediaApi(APIView):
    """The recording's file, decrypted as it streams. `Range: bytes=...` (one range) answers
    206 with that slice, so a player seeks without fetching the whole file. Every play or
    download is in the access log, once per viewer while they keep requesting it."""

    content_negotiation_class = JSONWhateverAccepted

    @extend_schema(
        operation_id="recordings_media",
        parameters=[
            OpenApiParameter(
                "download",
                OpenApiTypes.BOOL,
                description="Ask the browser to save the file (Content-Disposition: attachment).",
            ),
            OpenApiParameter(
                "Range",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="One byte range, e.g. bytes=0-1023, bytes=1024- or bytes=-500.",
            ),
        ],
        responses={
            (200, MEDIA_TYPE): MEDIA_BODY,
            (206, MEDIA_TYPE): MEDIA_BODY,
            401: openapi.UNAUTHENTICATED,
            404: openapi.NOT_FOUND,
            409: NOT_READY,
            416: RANGE_NOT_SATISFIABLE,
            503: openapi.SERVICE_UNAVAILABLE,
        },
    )
    def get(self, request, recording_id):
        download = request.query_params.get("download", "").lower() in ("1", "true", "yes")
        recording, media = recording_media_open(
            user=request.user,
            recording_id=recording_id,
            download=download,
            channel=Channel.API,
            address=request_address(request),
        )
        etag = f'"{recording.sha256}"'
        try:
            byte_range = _requested_range(request, size=media.size, etag=etag)
        except RangeNotSatisfiable:
            response = Response(
                {"detail": f"The file is {media.size} bytes; that range is not in it."},
                status=status.HTTP_416_REQUESTED_RANGE_NOT_SATISFIABLE,
            )
            response["Content-Range"] = f"bytes */{media.size}"
            return response
        start, stop = byte_range or (0, media.size)
        response = StreamingHttpResponse(
            _stream(request, media, start, stop),
            status=status.HTTP_206_PARTIAL_CONTENT if byte_range else status.HTTP_200_OK,
            content_type=recording.media_type or MEDIA_TYPE,
        )
        response["Content-Length"] = str(stop - start)
        response["Accept-Ranges"] = "bytes"
        response["ETag"] = etag
        if byte_range:
            response["Content-Range"] = f"bytes {start}-{stop - 1}/{media.size}"
        day = recording.started_at.date().isoformat() if recording.started_at else "undated"
        filename = f"recording-{day}-{str(recording.id)[:8]}.webm"
        disposition = "attachment" if download else "inline"
        response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
        return response


class RangeNotSatisfiable(Exception):
    pass


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _requested_range(request, *, size: int, etag: str) -> tuple[int, int] | None:
    """The [start, stop) the Range header asks for, or None for the whole file: no Range, one
    this server ignores (several ranges, another unit, a malformed one: RFC 9110 lets a server
    answer those with the whole file), or an If-Range naming another version of the file."""
    header = request.headers.get("Range", "").strip()
    if not header:
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != etag:
        return None
    match = _RANGE.match(header.replace(" ", ""))
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":  # a suffix: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(0, size - suffix), size
    start = int(first)
    if last != "" and int(last) < start:
        return None  # invalid: ignored, the whole file
    if start >= size:
        raise RangeNotSatisfiable
    stop = size if last == "" else min(int(last) + 1, size)
    return start, stop


def _stream(request, media: DecryptedFile, start: int, stop: int):
    """The decrypted bytes: an async iterator under ASGI (Daphne), a plain one under WSGI (the
    test client), so Django never has to convert one into the other."""
    pieces = media.iter_range(start, stop)
    if isinstance(request._request, ASGIRequest):
        return _pieces_async(pieces)
    return pieces


# Bytes handed to the event loop per thread hop: a hop per 64 KiB block would cost more than
# the decryption (27 MiB/s measured, against ~150 MiB/s in batches of 1 MiB).
ASYNC_BATCH_BYTES = 1024 * 1024


def _next_batch(pieces: Iterator[bytes]) -> bytes:
    batch = []
    size = 0
    for piece in pieces:
        batch.append(piece)
        size += len(piece)
        if size >= ASYNC_BATCH_BYTES:
            break
    return b"".join(batch)


async def _pieces_async(pieces: Iterator[bytes]) -> AsyncIterator[bytes]:
    # Blocks are read and decrypted in a worker thread, off the event loop; not the
    # thread-sensitive one, so a long download does not queue every sync view behind it.
    step = sync_to_async(_next_batch, thread_sensitive=False)
    try:
        while batch := await step(pieces):
            yield batch
    finally:
        # The player went away (or the file ended): close the stored file.
        await sync_to_async(pieces.close, thread_sensitive=False)()


class RawChunkParser(parsers.BaseParser):
    """A chunk's body as bytes, read up to one byte over the size limit, so the service can
    refuse one too large without the whole of it ever being held."""

    media_type = "application/octet-stream"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        return stream.read(settings.RECORDING_CHUNK_MAX_BYTES + 1)


class WebmChunkParser(RawChunkParser):
    media_type = "video/webm"  # what MediaRecorder's Blob says it is (codecs parameters too)


class RecordingChunkApi(APIView):
    """One chunk of a recording, from the doctor's browser while it records. Idempotent by
    `seq`: 201 the first time, 200 for the same bytes again, 409 for other bytes."""

    parser_classes = [RawChunkParser, WebmChunkParser]

    class RecordingChunkSerializer(serializers.Serializer):
        seq = serializers.IntegerField()
        size_bytes = serializers.IntegerField()
        sha256 = serializers.CharField()

    @extend_schema(
        operation_id="recordings_chunk_put",
        request={
            "application/octet-stream": OpenApiTypes.BINARY,
            "video/webm": OpenApiTypes.BINARY,
        },
        parameters=[
            OpenApiParameter(
                "last", OpenApiTypes.BOOL, description="This is the recorder's final chunk."
            )
        ],
        responses={
            200: OpenApiResponse(
                RecordingChunkSerializer, description="Already stored: the same bytes."
            ),
            201: OpenApiResponse(RecordingChunkSerializer, description="Stored."),
            400: openapi.BAD_REQUEST,
            401: openapi.UNAUTHENTICATED,
            403: openapi.FORBIDDEN,
            404: openapi.NOT_FOUND,
            409: openapi.CONFLICT,
            413: OpenApiResponse(openapi.ERROR_DETAIL, description="Over the chunk size limit."),
            415: OpenApiResponse(
                openapi.ERROR_DETAIL, description="Not application/octet-stream or video/webm."
            ),
            503: openapi.SERVICE_UNAVAILABLE,
        },
    )
    def put(self, request, recording_id, seq: int):
        data = request.data
        if not isinstance(data, bytes):
            data = b""  # an empty body (DRF parses none)
        last = request.query_params.get("last", "").lower() in ("1", "true", "yes")
        chunk, created = recording_chunk_put(
            user=request.user, recording_id=recording_id, seq=seq, data=data, last=last
        )
        return Response(
            self.RecordingChunkSerializer(chunk).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
