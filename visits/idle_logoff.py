"""Automatic logoff: a signed-in portal or admin session with no activity for
SESSION_IDLE_MINUTES is signed out, and the next request goes on as anyone signed out's would
(a page to the login page, which says why; the API a 401). Only session sign-ins: an API
client's JWT has its own short lifetime.

Every request counts as activity except those to views marked `not_activity` (the page's
"how long is left" question, static/js/session/timeout.js asks it from every open tab). The
visit room keeps its session alive while the call is on (that module, asked by the page).
"""

import time
from datetime import UTC, datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.deprecation import MiddlewareMixin

LAST_ACTIVITY_KEY = "idle_logoff_last_activity"  # in the session: time.time() of the last one
FIRST_ACTIVITY_KEY = "idle_logoff_first_activity"
NOT_ACTIVITY_ATTRIBUTE = "idle_logoff_not_activity"
# The message tag that tells the login page's script a sign-out happened (it clears the
# browser's unsaved note drafts: static/js/session/note-drafts.js).
SIGNED_OUT_TAG = "signed-out"
# Signed-in pages warn this long before the end ("Stay signed in").
LONGEST_WARNING_SECONDS = 60
# Activity is written to the session at most this often (a session save per request otherwise).
LONGEST_ACTIVITY_RESOLUTION_SECONDS = 30


def idle_seconds() -> float:
    return settings.SESSION_IDLE_MINUTES * 60


def warning_seconds() -> float:
    """A minute, or half the timeout when that is shorter (the browser tests' short ones)."""
    return min(LONGEST_WARNING_SECONDS, idle_seconds() / 2)


def _activity_resolution_seconds() -> float:
    return min(LONGEST_ACTIVITY_RESOLUTION_SECONDS, idle_seconds() / 20)


def not_activity(view):
    """Marks a view whose requests do not keep a session alive."""
    setattr(view, NOT_ACTIVITY_ATTRIBUTE, True)
    return view


def seconds_left(request: HttpRequest) -> float:
    """Seconds until the session is signed out for idleness; 0 when it is not signed in."""
    if not request.user.is_authenticated:
        return 0.0
    last = request.session.get(LAST_ACTIVITY_KEY)
    if last is None:
        return idle_seconds()
    return max(0.0, last + idle_seconds() - time.time())


def note_activity(request: HttpRequest, *, now: float) -> None:
    session = request.session
    session[LAST_ACTIVITY_KEY] = now
    # Saving a session would move its end SESSION_COOKIE_AGE past every activity: the end stays
    # where the first one put it (SESSION_COOKIE_AGE is the longest a sign-in lasts).
    started = session.setdefault(FIRST_ACTIVITY_KEY, now)
    session.set_expiry(datetime.fromtimestamp(started + settings.SESSION_COOKIE_AGE, tz=UTC))


def _idle_timeout_text() -> str:
    seconds = idle_seconds()
    if seconds < 60:
        return f"{round(seconds)} seconds"
    minutes = round(seconds / 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


class IdleLogoffMiddleware(MiddlewareMixin):
    """In process_view, after CSRF, so a signed-out POST was a genuine one; the view then runs
    for an anonymous user (login_required pages redirect to the login page)."""

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> None:
        if not request.user.is_authenticated:
            return None
        now = time.time()
        last = request.session.get(LAST_ACTIVITY_KEY)
        if last is not None and now - last >= idle_seconds():
            request.signed_out_for_idleness = True
            logout(request)
            messages.info(
                request,
                f"You were signed out after {_idle_timeout_text()} without activity. Please "
                "sign in again.",
                extra_tags=SIGNED_OUT_TAG,
            )
            return None
        if getattr(view_func, NOT_ACTIVITY_ATTRIBUTE, False):
            return None
        if last is None or now - last >= _activity_resolution_seconds():
            note_activity(request, now=now)
        return None


@receiver(user_logged_out, dispatch_uid="visits.idle_logoff.signed_out_message")
def _say_signed_out(sender, request: HttpRequest | None = None, **kwargs) -> None:
    # The login page after a sign-out carries the tag, whichever way the sign-out came.
    if request is None or getattr(request, "signed_out_for_idleness", False):
        return
    if getattr(request, "_messages", None) is not None:
        messages.info(request, "You are signed out.", extra_tags=SIGNED_OUT_TAG)
