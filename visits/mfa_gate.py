"""The second-factor gate in front of every page and API call signed in by session.

A person whose role requires a second factor and who has none reaches only enrolment (and
signing out) until it is done. A session that never proved the second factor of someone who
has one (it began before they enrolled elsewhere) is signed out and sent to sign in again.
Requests signed in by API token are not sessions: the token endpoint asked for the code.
"""

from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from visits.selectors import MfaSessionState, mfa_session_state

MFA_REQUIRED = "mfa_required"
MFA_ENROLMENT_REQUIRED = "mfa_enrolment_required"
ENROL_FIRST = (
    "Set up two-step sign-in first: your role requires it. Sign in to the portal in a browser "
    "to set it up."
)
SIGN_IN_AGAIN = "This session has not passed two-step sign-in: sign in again."


class MfaGateMiddleware:
    """After django_otp's OTPMiddleware, which tells whether a device verified the session."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated and request.path_info not in self._open_paths():
            state = mfa_session_state(user, verified=user.is_verified())
            if state == MfaSessionState.ENROL:
                return self._enrol_first(request)
            if state == MfaSessionState.VERIFY:
                logout(request)
                return self._sign_in_again(request)
        return self.get_response(request)

    @staticmethod
    def _open_paths() -> set[str]:
        # What an unfinished session may still reach: enrolment, signing out, the health check.
        return {reverse("mfa-enrol"), reverse("logout"), reverse("healthz")}

    @staticmethod
    def _enrol_first(request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith("/api/"):
            return JsonResponse({"detail": ENROL_FIRST, "code": MFA_ENROLMENT_REQUIRED}, status=403)
        if request.method not in ("GET", "HEAD"):
            return redirect("mfa-enrol")
        query = urlencode({"next": request.get_full_path()})
        return redirect(f"{reverse('mfa-enrol')}?{query}")

    @staticmethod
    def _sign_in_again(request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith("/api/"):
            return JsonResponse({"detail": SIGN_IN_AGAIN, "code": MFA_REQUIRED}, status=401)
        return redirect_to_login(request.get_full_path())
