"""The WebSocket Origin check: a socket opens only from a page of this site.

Channels' AllowedHostsOriginValidator compares the Origin's host name with ALLOWED_HOSTS, so any
scheme or port of an allowed host passes (http://clinic.example.org:9999 reaching the https
site). This check compares the whole origin, scheme, host and port, as Django's CSRF middleware
does for unsafe requests (CsrfViewMiddleware._origin_verified): the Origin must be the origin
the socket itself was opened on (ws -> http, wss -> https, SECURE_PROXY_SSL_HEADER honoured; the
Host header, which must be one of ALLOWED_HOSTS) or be listed in CSRF_TRUSTED_ORIGINS
(`https://*.example.org` entries match subdomains, as for CSRF).
"""

import logging
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.http.request import is_same_domain

logger = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}


class _HandshakeRequest(HttpRequest):
    """The WebSocket handshake seen as an HTTP request, so Django itself reads its host
    (ALLOWED_HOSTS, USE_X_FORWARDED_HOST) and its scheme (SECURE_PROXY_SSL_HEADER)."""

    def __init__(self, scope: dict) -> None:
        super().__init__()
        self._secure_transport = scope.get("scheme") in ("wss", "https")
        server = scope.get("server") or (None, None)
        self.META["SERVER_NAME"] = str(server[0] or "")
        self.META["SERVER_PORT"] = str(server[1] or "")
        for name, value in scope.get("headers", []):
            key = "HTTP_" + name.decode("latin1").upper().replace("-", "_")
            # Repeated headers join as in Django's ASGI handler.
            value = value.decode("latin1")
            self.META[key] = f"{self.META[key]},{value}" if key in self.META else value

    def _get_scheme(self) -> str:
        return "https" if self._secure_transport else "http"


def _origin_key(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a serialized origin, default ports filled in; None unless it is
    exactly scheme://host[:port] over http or https."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        return None
    return parts.scheme, parts.hostname, port or _DEFAULT_PORTS[parts.scheme]


def _trusted(origin: str, key: tuple[str, str, int]) -> bool:
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        if "*" in trusted:
            scheme, _, netloc = trusted.partition("://")
            if scheme == key[0] and is_same_domain(urlsplit(origin).netloc, netloc.lstrip("*")):
                return True
        elif _origin_key(trusted) == key:
            return True
    return False


def origin_allowed(scope: dict) -> bool:
    """Whether the handshake in `scope` comes from a page of this site (see the module)."""
    origins = [value for name, value in scope.get("headers", []) if name == b"origin"]
    if len(origins) != 1:
        return False
    origin = origins[0].decode("latin1").strip()
    key = _origin_key(origin)
    if key is None:  # "null" (sandboxed frames, file:), other schemes, garbage
        return False
    request = _HandshakeRequest(scope)
    try:
        own_origin = f"{request.scheme}://{request.get_host()}"
    except DisallowedHost:
        return False
    return _origin_key(own_origin) == key or _trusted(origin, key)


class SameOriginValidator:
    """ASGI middleware: refuses (HTTP 403, before the socket opens) a WebSocket handshake whose
    Origin is not this site's (origin_allowed)."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            raise ValueError("SameOriginValidator guards WebSocket connections only.")
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        logger.warning(
            "WebSocket refused: origin %r is not this site's",
            dict(scope.get("headers", [])).get(b"origin", b"").decode("latin1")[:200],
        )
        return await WebsocketDenier()(scope, receive, send)
