"""The API's one exception handler: application errors become DRF-shaped JSON responses."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.dispatch import Signal
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from clinic.errors import ApplicationError, NotYoursError, PermissionDeniedError

# Sent with the request and the error when the API (or a page: clinic.middleware) refuses
# someone something that exists (a 403, or another's record answered as a 404). The access log
# listens (visits.signals): clinic does not know about visits.
access_refused = Signal()
REFUSALS = (
    NotYoursError,
    PermissionDeniedError,
    DjangoPermissionDenied,
    exceptions.PermissionDenied,
)


def api_exception_handler(error: Exception, context: dict) -> Response | None:
    if isinstance(error, REFUSALS) and context.get("request") is not None:
        access_refused.send(sender=type(error), request=context["request"], error=error)
    if isinstance(error, ApplicationError):
        body = {error.field: [error.message]} if error.field else {"detail": error.message}
        if error.code:
            body["code"] = error.code
        return Response(body, status=error.status_code)
    if isinstance(error, DjangoValidationError):
        # Model validation reached through a service: same shape as a serializer's errors.
        error = exceptions.ValidationError(
            error.message_dict if hasattr(error, "error_dict") else {"detail": error.messages}
        )
    return drf_exception_handler(error, context)
