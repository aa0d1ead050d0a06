"""Shared OpenAPI documentation of the error responses, for every app's `extend_schema`.

These describe the bodies clinic.exception_handler produces; they raise nothing (the errors
themselves are clinic.errors)."""

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ERROR_DETAIL = inline_serializer(
    "ErrorDetail",
    fields={
        "detail": serializers.CharField(),
        "code": serializers.CharField(
            required=False, help_text="Which refusal it is, where a client may need to tell."
        ),
    },
)


class FieldErrorsSerializer(serializers.Serializer):
    """DRF's validation error body: one key per invalid input (a field name, `non_field_errors`,
    or `detail` for an unreadable request), each with its messages. Only used in the schema."""


class FieldErrorsExtension(OpenApiSerializerExtension):
    # A serializer cannot say "any key", so the schema of this body is written out here.
    target_class = FieldErrorsSerializer

    def get_name(self, auto_schema, direction) -> str:
        return "FieldErrors"

    def map_serializer(self, auto_schema, direction) -> dict:
        itself = {"$ref": "#/components/schemas/FieldErrors"}  # nested serializers nest errors
        return {
            "type": "object",
            "description": (
                "One entry per invalid input: the field's name (or `non_field_errors`) with a "
                "list of messages (an object of the same shape for a nested input, a list of "
                "them for a list of inputs), or `detail` with one message when the request as "
                "a whole could not be read."
            ),
            "additionalProperties": {
                "anyOf": [
                    {"type": "string"},
                    {"type": "array", "items": {"anyOf": [{"type": "string"}, itself]}},
                    itself,
                ]
            },
            "example": {"start": ["That time is in the past."]},
        }


UNAUTHENTICATED = OpenApiResponse(
    ERROR_DETAIL, description="Not signed in or the token is invalid."
)
NOT_FOUND = OpenApiResponse(ERROR_DETAIL, description="Absent, or not the caller's to see.")
FORBIDDEN = OpenApiResponse(ERROR_DETAIL, description="The caller's role may not do this.")
CONFLICT = OpenApiResponse(ERROR_DETAIL, description="The current state does not allow it.")
BAD_REQUEST = OpenApiResponse(FieldErrorsSerializer, description="Invalid input, per field.")
THROTTLED = OpenApiResponse(ERROR_DETAIL, description="Too many requests; see Retry-After.")
SERVICE_UNAVAILABLE = OpenApiResponse(
    ERROR_DETAIL, description="A service we depend on failed; retry."
)
