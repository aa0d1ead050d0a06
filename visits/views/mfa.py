"""Two-step sign-in in the portal: the person's page about it, enrolling an authenticator app
(a QR code drawn here, and the secret as text), recovery codes, turning it off when optional."""

import segno
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from clinic.errors import ApplicationError
from visits import selectors
from visits.models import AccessLogEntry
from visits.services.access_log import record_request_security_event
from visits.services.mfa import (
    mfa_enrol,
    mfa_new_secret,
    mfa_recovery_codes_renew,
    mfa_reset,
    mfa_secret_for_people,
    mfa_setup_url,
)
from visits.views.login import safe_next

# The secret being enrolled, kept server-side until a code confirms it.
PENDING_ENROLMENT = "mfa_pending_enrolment"


class EnrolForm(forms.Form):
    code = forms.CharField(
        label="Code from your app",
        max_length=16,
        strip=True,
        error_messages={"required": "Enter the 6-digit code your app shows."},
    )


def _qr_svg(data: str) -> str:
    # segno's SVG, inline in the page: drawn here, no image service, no script.
    svg = segno.make(data, error="m").svg_inline(
        scale=5,
        omitsize=True,  # sized by the stylesheet, through its viewBox
        title="QR code to add Clinic Meet to an authenticator app",
        svgclass="mfa__qr",
    )
    return mark_safe(svg)  # noqa: S308 - segno's own markup, from a URL we built


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    user = request.user
    return render(
        request,
        "registration/mfa.html",
        {
            "enrolled": selectors.mfa_enrolled(user),
            "required": selectors.mfa_required_for(user),
            "codes_left": selectors.mfa_recovery_codes_left(user),
        },
    )


@sensitive_post_parameters("code")
@login_required
def enrol(request: HttpRequest) -> HttpResponse:
    user = request.user
    next_url = safe_next(request, request.POST.get("next", request.GET.get("next")))
    if selectors.mfa_enrolled(user):
        return redirect("mfa")
    secret = request.session.get(PENDING_ENROLMENT)
    if secret is None:
        secret = request.session[PENDING_ENROLMENT] = mfa_new_secret()
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = mfa_enrol(user=user, secret=secret, code=form.cleaned_data["code"])
        except ApplicationError as error:
            form.add_error("code", error.message)
        else:
            del request.session[PENDING_ENROLMENT]
            record_request_security_event(
                event=AccessLogEntry.Event.MFA_ENROLLED, request=request, user=user
            )
            otp_login(request, device)  # this session has now passed the second factor
            return _recovery_codes_page(request, codes, next_url=next_url, first=True)
    return render(
        request,
        "registration/mfa_enrol.html",
        {
            "form": form,
            "qr": _qr_svg(mfa_setup_url(user=user, secret=secret)),
            "secret": mfa_secret_for_people(secret),
            "required": selectors.mfa_required_for(user),
            "next": next_url,
        },
    )


def _recovery_codes_page(request, codes: list[str], *, next_url: str, first: bool):
    # Shown this once: no page shows them again, so the person keeps them now.
    return render(
        request,
        "registration/mfa_recovery_codes.html",
        {"codes": codes, "next": next_url, "first": first},
    )


@require_POST
@login_required
def recovery_codes_renew(request: HttpRequest) -> HttpResponse:
    if not selectors.mfa_enrolled(request.user):
        return redirect("mfa")
    codes = mfa_recovery_codes_renew(user=request.user)
    record_request_security_event(
        event=AccessLogEntry.Event.MFA_RECOVERY_CODES_RENEWED, request=request, user=request.user
    )
    return _recovery_codes_page(request, codes, next_url=safe_next(request, None), first=False)


@require_POST
@login_required
def turn_off(request: HttpRequest) -> HttpResponse:
    try:
        mfa_reset(actor=request.user, user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        record_request_security_event(
            event=AccessLogEntry.Event.MFA_RESET, request=request, user=request.user
        )
        messages.success(request, "Two-step sign-in is off for your account.")
    return redirect("mfa")
