"""Signing a person out everywhere when their credentials stop being good.

A new password, a deactivation or a deleted account ends every sign-in the person holds:
their API refresh tokens are blacklisted, their access tokens stop working (each carries a
digest of the password hash, SIMPLE_JWT's CHECK_REVOKE_TOKEN, and inactive users are refused),
and their open room sockets are told to close. Portal sessions end by themselves: Django checks
each session against the password hash and refuses inactive users.

`visits.signals` calls this on every save of a user, whichever path changed it (admin, shell,
a management command); only QuerySet.update() goes around it.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

logger = logging.getLogger(__name__)

# The contract with the room sockets (rooms.consumers): each socket of a signed-in user joins
# this channel-layer group and closes when it receives the event.
SIGNED_OUT_EVENT = "user.signed_out"


def user_sockets_group(user_id: int) -> str:
    return f"user.{user_id}"


def user_credentials_changed(*, stored_password: str, stored_active: bool, user) -> bool:
    """Whether saving `user` over the stored row must end their sign-ins: a different password
    hash (any new password, also one set in the shell) or an account made inactive."""
    return stored_password != user.password or (stored_active and not user.is_active)


def user_sign_out_everywhere(*, user_id: int) -> int:
    """Revoke every token of the user now and close their sockets once the change is committed
    (a rolled-back password change signs no one out). Returns the tokens revoked."""
    revoked = user_tokens_revoke(user_id=user_id)
    transaction.on_commit(lambda: user_sockets_close(user_id=user_id), robust=True)
    return revoked


def user_tokens_revoke(*, user_id: int) -> int:
    """Blacklist each of the user's refresh tokens that is still alive."""
    alive = OutstandingToken.objects.filter(
        user_id=user_id, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )
    created = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in alive], ignore_conflicts=True
    )
    return len(created)


def user_sockets_close(*, user_id: int) -> None:
    """Tell every room socket of the user to close (4401). Best effort: the tokens are already
    revoked, so a channel-layer outage must not undo the password change that called this."""
    try:
        async_to_sync(get_channel_layer().group_send)(
            user_sockets_group(user_id), {"type": SIGNED_OUT_EVENT}
        )
    except Exception:
        logger.exception("could not close the room sockets of user %s", user_id)
