"""The browser's way to Cloudflare Calls: room-scoped endpoints mirroring the Calls paths.

Bodies are Calls' own (camelCase) shapes; the app id and secret are ours to add. Every request
is checked by rooms.calls.rules before anything reaches Calls.
"""

import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.validators import ProhibitSurrogateCharactersValidator
from rest_framework.views import APIView

from clinic import openapi
from clinic.integrations.cloudflare.calls_client import MAX_TRACKS_PER_CALL, SessionDescription
from clinic.integrations.cloudflare.turn import ice_servers
from rooms.calls import rules
from rooms.selectors import room_access_get

_SURROGATE = re.compile("[\ud800-\udfff]")


class ScanningSurrogateValidator(ProhibitSurrogateCharactersValidator):
    """DRF's check (same message and code) as one regular-expression scan: DRF's own walks the
    text a character at a time in Python, about 2 ms for a 10 KB SDP."""

    def __call__(self, value):
        if found := _SURROGATE.search(str(value)):
            super().__call__(found.group())


class SdpField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators = [
            ScanningSurrogateValidator()
            if type(validator) is ProhibitSurrogateCharactersValidator
            else validator
            for validator in self.validators
        ]


class CallsSessionDescriptionSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["offer", "answer"])
    sdp = SdpField(max_length=200_000, trim_whitespace=False)

    def to_description(self) -> SessionDescription:
        return SessionDescription(**self.validated_data)


SIMULCAST_ORDERINGS = ["none", "asciibetical"]


class CallsSimulcastSerializer(serializers.Serializer):
    preferredRid = serializers.CharField(max_length=32, required=False)
    priorityOrdering = serializers.ChoiceField(choices=SIMULCAST_ORDERINGS, required=False)
    ridNotAvailable = serializers.ChoiceField(choices=SIMULCAST_ORDERINGS, required=False)


class CallsTrackSerializer(serializers.Serializer):
    location = serializers.ChoiceField(choices=["local", "remote"], required=False)
    mid = serializers.CharField(max_length=64, required=False)
    sessionId = serializers.CharField(max_length=64, required=False)
    trackName = serializers.CharField(max_length=128, required=False)
    bidirectionalMediaStream = serializers.BooleanField(required=False)
    kind = serializers.ChoiceField(choices=["audio", "video"], required=False)
    simulcast = CallsSimulcastSerializer(required=False)

    def validate(self, data):
        if data.get("location") == "remote" and not (
            data.get("sessionId") and data.get("trackName")
        ):
            raise serializers.ValidationError("A remote track needs sessionId and trackName.")
        if data.get("location") == "local" and not data.get("trackName"):
            raise serializers.ValidationError("A local track needs a trackName.")
        if data.get("location") == "local" and "sessionId" in data:
            raise serializers.ValidationError(
                "A local track is published by this session: it names no sessionId."
            )
        return data


class CallsNewTrackSerializer(CallsTrackSerializer):
    """tracks/new: each track says whether it is published (local) or pulled (remote)."""

    location = serializers.ChoiceField(choices=["local", "remote"])


class CallsUpdateTrackSerializer(CallsTrackSerializer):
    """tracks/update: a transceiver (mid) of this session switches to another remote track
    (what it may switch to is the proxy's rule: rooms.calls.rules)."""

    mid = serializers.CharField(max_length=64)


def _tracks_field(serializer_class=CallsTrackSerializer, **kwargs):
    return serializer_class(many=True, allow_empty=False, max_length=MAX_TRACKS_PER_CALL, **kwargs)


def _offer(serializer) -> SessionDescription | None:
    description = serializer.validated_data.get("sessionDescription")
    return SessionDescription(**description) if description else None


def _valid(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer


CALLS_RESPONSES = {
    200: OpenApiTypes.OBJECT,
    400: openapi.BAD_REQUEST,
    401: openapi.UNAUTHENTICATED,
    403: openapi.FORBIDDEN,
    404: openapi.NOT_FOUND,
    409: openapi.CONFLICT,
    503: openapi.SERVICE_UNAVAILABLE,
}
SESSION_QUOTA = OpenApiResponse(
    openapi.ERROR_DETAIL,
    description="The caller already holds CALLS_MAX_SESSIONS_PER_PARTICIPANT sessions here.",
)


class CallsSessionNewApi(APIView):
    class NewSessionSerializer(serializers.Serializer):
        sessionDescription = CallsSessionDescriptionSerializer(required=False)

    @extend_schema(
        operation_id="calls_sessions_new",
        request=NewSessionSerializer,
        responses={**CALLS_RESPONSES, 201: OpenApiTypes.OBJECT, 429: SESSION_QUOTA},
    )
    def post(self, request, room_id):
        body = _valid(self.NewSessionSerializer, request)
        caller = rules.calls_caller(user=request.user, room_id=room_id, sessions=True)
        return Response(rules.session_new(caller, _offer(body)), status=201)


class CallsTracksNewApi(APIView):
    class TracksNewSerializer(serializers.Serializer):
        sessionDescription = CallsSessionDescriptionSerializer(required=False)
        tracks = _tracks_field(CallsNewTrackSerializer)

    @extend_schema(
        operation_id="calls_tracks_new", request=TracksNewSerializer, responses=CALLS_RESPONSES
    )
    def post(self, request, room_id, session_id):
        body = _valid(self.TracksNewSerializer, request)
        tracks = body.validated_data["tracks"]
        caller = rules.calls_caller(
            user=request.user, room_id=room_id, session_id=session_id, tracks=tracks
        )
        return Response(rules.tracks_new(caller, session_id, tracks, _offer(body)))


class CallsRenegotiateApi(APIView):
    class RenegotiateSerializer(serializers.Serializer):
        sessionDescription = CallsSessionDescriptionSerializer()

    @extend_schema(
        operation_id="calls_renegotiate", request=RenegotiateSerializer, responses=CALLS_RESPONSES
    )
    def put(self, request, room_id, session_id):
        body = _valid(self.RenegotiateSerializer, request)
        caller = rules.calls_caller(user=request.user, room_id=room_id, session_id=session_id)
        return Response(rules.renegotiate(caller, session_id, _offer(body)))


class CallsCloseMidSerializer(serializers.Serializer):
    mid = serializers.CharField(max_length=64)


class CallsTracksCloseApi(APIView):
    class TracksCloseSerializer(serializers.Serializer):
        sessionDescription = CallsSessionDescriptionSerializer(required=False)
        tracks = CallsCloseMidSerializer(
            many=True, allow_empty=False, max_length=MAX_TRACKS_PER_CALL
        )
        force = serializers.BooleanField(default=False)

    @extend_schema(
        operation_id="calls_tracks_close", request=TracksCloseSerializer, responses=CALLS_RESPONSES
    )
    def put(self, request, room_id, session_id):
        body = _valid(self.TracksCloseSerializer, request)
        caller = rules.calls_caller(user=request.user, room_id=room_id, session_id=session_id)
        mids = [track["mid"] for track in body.validated_data["tracks"]]
        return Response(
            rules.tracks_close(caller, session_id, mids, _offer(body), body.validated_data["force"])
        )


class CallsTracksUpdateApi(APIView):
    class TracksUpdateSerializer(serializers.Serializer):
        tracks = _tracks_field(CallsUpdateTrackSerializer)

    @extend_schema(
        operation_id="calls_tracks_update",
        request=TracksUpdateSerializer,
        responses=CALLS_RESPONSES,
    )
    def put(self, request, room_id, session_id):
        body = _valid(self.TracksUpdateSerializer, request)
        tracks = body.validated_data["tracks"]
        caller = rules.calls_caller(
            user=request.user, room_id=room_id, session_id=session_id, tracks=tracks
        )
        return Response(rules.tracks_update(caller, session_id, tracks))


class CallsSessionStateApi(APIView):
    @extend_schema(operation_id="calls_session_state", responses=CALLS_RESPONSES)
    def get(self, request, room_id, session_id):
        caller = rules.calls_caller(user=request.user, room_id=room_id, session_id=session_id)
        return Response(rules.session_state(caller, session_id))


class IceServersApi(APIView):
    class IceServersSerializer(serializers.Serializer):
        iceServers = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        operation_id="rooms_ice_servers",
        responses={
            200: IceServersSerializer,
            401: openapi.UNAUTHENTICATED,
            404: openapi.NOT_FOUND,
            409: openapi.CONFLICT,
        },
    )
    def get(self, request, room_id):
        room_access_get(user=request.user, room_id=room_id)
        return Response({"iceServers": ice_servers()})
