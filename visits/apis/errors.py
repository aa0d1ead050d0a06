"""Error bodies as the schema documents them (the exception handler produces them)."""

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

DETAIL = inline_serializer("ErrorDetail", fields={"detail": serializers.CharField()})
FIELD_ERRORS = inline_serializer(
    "FieldErrors",
    fields={
        "field_name": serializers.ListField(
            child=serializers.CharField(), help_text="One list of messages per invalid input."
        )
    },
)

UNAUTHENTICATED = OpenApiResponse(DETAIL, description="Not signed in or the token is invalid.")
NOT_FOUND = OpenApiResponse(DETAIL, description="Absent, or not the caller's to see.")
FORBIDDEN = OpenApiResponse(DETAIL, description="The caller's role may not do this.")
CONFLICT = OpenApiResponse(DETAIL, description="The current state does not allow it.")
BAD_REQUEST = OpenApiResponse(FIELD_ERRORS, description="Invalid input, per field.")
THROTTLED = OpenApiResponse(DETAIL, description="Too many requests; see Retry-After.")
