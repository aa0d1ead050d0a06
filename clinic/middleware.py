"""Project-wide HTTP rules that no single view should have to remember."""

from typing import NamedTuple

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.deprecation import MiddlewareMixin

from clinic.exception_handler import REFUSALS, access_refused

NUL = "\x00"
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# DRF's own wording (ProhibitNullCharactersValidator), so an API client sees one message.
NUL_IN_FIELD = "Null characters are not allowed."


class NeverCacheMiddleware(MiddlewareMixin):
    """Every response Django renders may carry health data (pages, API, admin): no browser or
    proxy may keep a copy. Sits below WhiteNoise, so static files keep their long-lived caching.
    A view that sets Cache-Control itself has decided, and is left alone."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        return response


class RefusalsMiddleware(MiddlewareMixin):
    """A page's refusal is the access log's too, as the API's is (its exception handler): a
    view that answers 404 for someone else's record raises Http404 from the application error
    that refused, and a 403 is a PermissionDenied."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        refusal = exception if isinstance(exception, REFUSALS) else exception.__cause__
        if isinstance(refusal, REFUSALS):
            access_refused.send(sender=type(refusal), request=request, error=refusal)


class NulFound(NamedTuple):
    where: str  # which part of the request
    field: str | None = None  # the query or form parameter whose value holds it


class RejectNulCharactersMiddleware(MiddlewareMixin):
    """A NUL character anywhere in a request's text is refused with 400 before any code can
    query with it: PostgreSQL cannot store or compare it and fails the query (a 500). Text
    arrives in the address, query string, cookies (the session key is looked up), headers
    (logged by the login lockout) and form fields; JSON bodies are checked by clinic.parsers.
    Sits above the session and authentication middleware, which already query."""

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        found = _find_nul(request)
        if found is None:
            return None
        message = f"The request's {found.where} contains a NUL character, which is not allowed."
        if request.path_info.startswith("/api/"):
            # The shape of a serializer's field error when a parameter is at fault.
            body = {found.field: [NUL_IN_FIELD]} if found.field else {"detail": message}
            return JsonResponse(body, status=400)
        return render(request, "400.html", {"message": message}, status=400)


def _find_nul(request: HttpRequest) -> NulFound | None:
    if NUL in request.path_info:
        return NulFound("address")
    if found := _find_nul_in_parameters(request.GET, "query string"):
        return found
    if any(NUL in name or NUL in value for name, value in request.COOKIES.items()):
        return NulFound("cookies")
    if any(
        name.startswith("HTTP_") and isinstance(value, str) and NUL in value
        for name, value in request.META.items()
    ):
        return NulFound("headers")
    # Only POST is parsed as a form by Django (and by the views); file contents may hold NUL.
    if request.method == "POST" and request.content_type in FORM_CONTENT_TYPES:
        return _find_nul_in_parameters(request.POST, "form")
    return None


def _find_nul_in_parameters(parameters, where: str) -> NulFound | None:
    for name, values in parameters.lists():
        if NUL in name:
            return NulFound(where)
        if any(NUL in value for value in values):
            return NulFound(where, field=name)
    return None
