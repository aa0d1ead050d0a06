"""WebSocket authentication by JWT, beside the portal's session cookie.

Browsers send the session cookie; other clients send `Authorization: Bearer <access>` or
`?token=<access>` (browsers cannot set headers on a WebSocket). simplejwt's JWTAuthentication
also refuses tokens of inactive users and tokens issued before the password last changed
(SIMPLE_JWT's CHECK_REVOKE_TOKEN); sockets already open are closed by RoomConsumer.user_signed_out.
A session counts only once it has passed two-step sign-in where the person has or needs a second
factor (as the portal's gate, visits.mfa_gate, has it for pages); a token was got with the code.
"""

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError

from visits.selectors import MfaSessionState, mfa_session_state


def _bearer_token(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token:
                return token.strip()
    tokens = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return tokens[0] if tokens else None


@database_sync_to_async
def _user_for(raw_token: str):
    authentication = JWTAuthentication()
    try:
        return authentication.get_user(authentication.get_validated_token(raw_token))
    except (InvalidToken, TokenError, AuthenticationFailed):
        return AnonymousUser()


@database_sync_to_async
def _session_passed_second_factor(scope, user) -> bool:
    session = scope.get("session")
    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    device = Device.from_persistent_id(persistent_id) if persistent_id else None
    verified = device is not None and device.user_id == user.pk and device.confirmed
    return mfa_session_state(user, verified=verified) == MfaSessionState.COMPLETE


class JwtAuthMiddleware:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        session_user = user is not None and user.is_authenticated
        if session_user and not await _session_passed_second_factor(scope, user):
            scope = {**scope, "user": AnonymousUser()}
            user = None
        if user is None or not user.is_authenticated:
            token = _bearer_token(scope)
            if token:
                scope = {**scope, "user": await _user_for(token)}
        return await self.app(scope, receive, send)


def RoomAuthMiddlewareStack(app):
    return AuthMiddlewareStack(JwtAuthMiddleware(app))
