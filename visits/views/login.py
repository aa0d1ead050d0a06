"""Signing in: the password, then for anyone with a second factor its code (an authenticator
app's code or a recovery code); and the page a locked-out sign-in gets, on the portal and the
admin alike (AXES_LOCKOUT_CALLABLE).

Django's user_logged_in, on which django-axes forgives the account's earlier failures, fires
only once the second factor is through. A wrong code is a failed sign-in for the lockout.
"""

import time

from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import user_login_failed
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django_otp.plugins.otp_static.models import StaticDevice

from visits import selectors
from visits.lockout import lockout_message, lockout_seconds
from visits.models import AccessLogEntry, User
from visits.services.access_log import record_request_security_event
from visits.services.mfa import mfa_verify

# The session's record of a sign-in past its password, waiting for the code.
PENDING_SIGN_IN = "mfa_pending_sign_in"


def locked_out(request: HttpRequest, response=None, credentials=None) -> HttpResponse:
    # Axes hands over the response it replaces and the credentials tried: neither is shown, so
    # the page is the same for every account, existing or not.
    page = render(
        request,
        "registration/locked_out.html",
        {"message": lockout_message()},
        status=429,
    )
    page["Retry-After"] = str(lockout_seconds())
    return page


def safe_next(request: HttpRequest, candidate: str | None) -> str:
    """`candidate` if it is an address on this site, else the portal's home."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return settings.LOGIN_REDIRECT_URL


class SignInView(LoginView):
    """Step one, the password. With a second factor the person is not signed in yet: the
    session remembers who passed the password, and the code step finishes."""

    redirect_authenticated_user = True

    def form_valid(self, form):
        user = form.get_user()
        if not selectors.mfa_enrolled(user):
            return super().form_valid(form)
        self.request.session[PENDING_SIGN_IN] = {
            "user": user.pk,
            "backend": user.backend,
            "since": time.time(),
            # Voided if the password changes in between (the session hash follows it).
            "hash": user.get_session_auth_hash(),
            "next": self.get_success_url(),
        }
        return redirect("login-code")


def _pending_user(request: HttpRequest) -> tuple[User, dict] | None:
    pending = request.session.get(PENDING_SIGN_IN)
    if not pending or time.time() - pending["since"] > settings.MFA_CODE_STEP_SECONDS:
        return None
    user = User.objects.filter(pk=pending["user"], is_active=True).first()
    if user is None or user.get_session_auth_hash() != pending["hash"]:
        return None
    return user, pending


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code", max_length=32, strip=True, error_messages={"required": "Enter the code."}
    )


def _passed(device) -> str:
    """The event of a second factor passed: a recovery code is one fewer left."""
    if isinstance(device, StaticDevice):
        return AccessLogEntry.Event.MFA_RECOVERY_CODE_USED
    return AccessLogEntry.Event.MFA_VERIFIED


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
def sign_in_code(request: HttpRequest) -> HttpResponse:
    """Step two: the code. A locked account is refused here too, even with the right code."""
    found = _pending_user(request)
    if found is None:
        request.session.pop(PENDING_SIGN_IN, None)
        messages.info(request, "Please sign in again.")
        return redirect("login")
    user, pending = found
    credentials = {"username": user.get_username()}
    if not AxesProxyHandler.is_allowed(request, credentials):
        return locked_out(request)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = mfa_verify(user=user, code=form.cleaned_data["code"])
        if device is None:
            # Counted by axes like a wrong password; at the limit its middleware answers with
            # the lockout page instead of this form.
            user_login_failed.send(sender=__name__, credentials=credentials, request=request)
            record_request_security_event(
                event=AccessLogEntry.Event.MFA_FAILED, request=request, user=user
            )
            form.add_error("code", "That code is not right. Try the code your app shows now.")
        else:
            del request.session[PENDING_SIGN_IN]
            record_request_security_event(event=_passed(device), request=request, user=user)
            user.otp_device = device  # django_otp marks the session verified on user_logged_in
            auth_login(request, user, backend=pending["backend"])
            if isinstance(device, StaticDevice):
                left = selectors.mfa_recovery_codes_left(user)
                messages.warning(
                    request,
                    f"You signed in with a recovery code; {left} left. Each works once: make "
                    "new ones on your two-step sign-in page if you run low.",
                )
            return HttpResponseRedirect(safe_next(request, pending["next"]))
    return render(request, "registration/login_code.html", {"form": form})
