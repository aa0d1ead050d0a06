"""Sign-in lockout through django-axes: our limits and our idea of the client's address.

Axes counts failed sign-ins per username and per client address (settings.AXES_LOCKOUT_PARAMETERS)
and its backend, first in AUTHENTICATION_BACKENDS, refuses a locked sign-in before any password
is hashed. Usernames are counted as typed, whether or not such an account exists, so a lockout
says nothing about which accounts exist.
"""

import ipaddress

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest
from rest_framework.settings import api_settings


def lockout_message() -> str:
    """What a locked-out person is told, the same whoever they are (or claim to be)."""
    minutes = settings.LOGIN_LOCKOUT_MINUTES
    unit = "minute" if minutes == 1 else "minutes"
    return (
        f"Too many failed sign-ins. Try again in {minutes} {unit} or ask the clinic to "
        "unlock your account."
    )


def lockout_seconds() -> int:
    """For Retry-After: every attempt during a lockout starts the cool-off again."""
    return settings.LOGIN_LOCKOUT_MINUTES * 60


class LockoutHandler(AxesDatabaseHandler):
    """Axes' database handler with a limit of its own for each lockout parameter.

    An account locks after AXES_FAILURE_LIMIT failures; an address only after
    LOGIN_LOCKOUT_FAILURES_PER_ADDRESS, since a whole clinic may sign in from one NAT address.
    Axes compares a single failure count with a single limit, so `get_failures` reports the
    account's count, or the account limit itself once the address has used up its own.
    """

    def get_failures(self, request, credentials: dict | None = None) -> int:
        # One queryset per AXES_LOCKOUT_PARAMETERS entry, in its order: username, ip_address.
        by_account, by_address = (
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        if by_address >= settings.LOGIN_LOCKOUT_FAILURES_PER_ADDRESS:
            return settings.AXES_FAILURE_LIMIT
        return by_account

    def reset_user_attempts(self, request, credentials: dict | None = None) -> int:
        # On a successful sign-in axes would forget every failure from the address too, which
        # lets anyone holding one account wipe the address's count (a password spray) by
        # signing in now and then. Forget only the account's own mistakes.
        return account_failures_forgive(username=get_client_username(request, credentials))


def account_failures_forgive(*, username: str) -> int:
    """After a successful sign-in: that account's failures no longer count (towards its own
    limit or its address's). Axes does it on user_logged_in (portal, admin); the API's token
    endpoint sends no such signal and calls this itself."""
    count, _ = AccessAttempt.objects.filter(username=username).delete()
    return count


def client_address(request: HttpRequest) -> str | None:
    """The client's address as the API's throttling sees it (REST_FRAMEWORK's NUM_PROXIES):
    REMOTE_ADDR, or the address the last trusted proxy appended to X-Forwarded-For.
    Anything that is not an IP address (a forged header) counts as REMOTE_ADDR."""
    return forwarded_client_address(
        remote=request.META.get("REMOTE_ADDR"), forwarded=request.META.get("HTTP_X_FORWARDED_FOR")
    )


def forwarded_client_address(*, remote: str | None, forwarded: str | None) -> str | None:
    """`client_address` from the peer's address and the X-Forwarded-For header (HTTP or a
    WebSocket's handshake alike)."""
    proxies = api_settings.NUM_PROXIES or 0
    if not proxies or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",")]
    candidate = hops[-min(proxies, len(hops))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
