"""The page a locked-out sign-in gets, on the portal and the admin alike (AXES_LOCKOUT_CALLABLE)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from visits.lockout import lockout_message, lockout_seconds


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
