"""WebSocket authentication by JWT, beside the portal's session cookie.

Browsers send the session cookie; other clients send `Authorization: Bearer <access>` or
`?token=<access>` (browsers cannot set headers on a WebSocket). simplejwt's JWTAuthentication
also refuses tokens of inactive users and tokens issued before the password last changed
(SIMPLE_JWT's CHECK_REVOKE_TOKEN); sockets already open are closed by RoomConsumer.user_signed_out.
"""

import functools
from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError


def _bearer_token(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token:
                return token.strip()
    tokens = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return tokens[0] if tokens else None


@functools.partial(database_sync_to_async, thread_sensitive=False)  # a read: the pool
def _user_for(raw_token: str):
    authentication = JWTAuthentication()
    try:
        return authentication.get_user(authentication.get_validated_token(raw_token))
    except (InvalidToken, TokenError, AuthenticationFailed):
        return AnonymousUser()


class JwtAuthMiddleware:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        if user is None or not user.is_authenticated:
            token = _bearer_token(scope)
            if token:
                scope = {**scope, "user": await _user_for(token)}
        return await self.app(scope, receive, send)


def RoomAuthMiddlewareStack(app):
    return AuthMiddlewareStack(JwtAuthMiddleware(app))
