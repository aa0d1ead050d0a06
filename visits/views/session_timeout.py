"""What a signed-in page's script (static/js/session/timeout.js) asks about the automatic
logoff (visits/idle_logoff.py): how long is left, which is no activity itself (every open tab
asks), and "Stay signed in", which is."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from visits import idle_logoff


def _answer(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "signedIn": request.user.is_authenticated,
            "secondsLeft": idle_logoff.seconds_left(request),
            "warningSeconds": idle_logoff.warning_seconds(),
        }
    )


@idle_logoff.not_activity
@require_GET
def status(request: HttpRequest) -> JsonResponse:
    return _answer(request)


@require_POST
def keep_alive(request: HttpRequest) -> JsonResponse:
    # Activity like any request (the middleware notes it); a POST, so CSRF-protected.
    return _answer(request)
