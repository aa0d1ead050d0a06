"""The WebSocket Origin check (clinic.websocket_origin): the whole origin, scheme, host and port,
must be the one the socket is served on, or one of CSRF_TRUSTED_ORIGINS."""

import pytest
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.testing import WebsocketCommunicator

from clinic.websocket_origin import SameOriginValidator

# Channels closes stale database connections around each consumer event.
pytestmark = [pytest.mark.asyncio, pytest.mark.django_db]

HOST = "clinic.example.org"


class _Accepting(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()


@pytest.fixture(autouse=True)
def _site(settings):
    settings.ALLOWED_HOSTS = [HOST, "127.0.0.1", "localhost"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://partner.example.net", "https://*.clinic.example.com"]


async def _opens(origin, *, scheme="ws", host=HOST, headers=()) -> bool:
    all_headers = [(b"host", host.encode())] if host else []
    if origin is not None:
        all_headers.append((b"origin", origin.encode()))
    all_headers.extend((name.encode(), value.encode()) for name, value in headers)
    socket = WebsocketCommunicator(SameOriginValidator(_Accepting.as_asgi()), "/ws/rooms/x/")
    socket.scope.update(headers=all_headers, scheme=scheme, server=("10.0.0.5", 8000))
    # A refusal closes before accepting, which Daphne answers with HTTP 403 (tests/rooms_live).
    connected, _ = await socket.connect()
    if connected:
        await socket.disconnect()
    return connected


# (served on: scheme, Host header) -> Origin -> opens?
CASES = [
    # Plain HTTP site: only its own origin.
    ("ws", HOST, f"http://{HOST}", True),
    ("ws", HOST, f"http://{HOST}:80", True),  # the default port, spelled out
    ("ws", HOST, f"http://{HOST}:9999", False),  # another port of the allowed host
    ("ws", HOST, f"https://{HOST}", False),  # the https origin of a site served on http
    ("ws", HOST, f"ftp://{HOST}", False),
    ("ws", HOST, f"ws://{HOST}", False),
    ("ws", HOST, f"http://{HOST}/", False),  # not a serialized origin
    ("ws", HOST, f"http://user@{HOST}", False),
    ("ws", HOST, "http://evil.example", False),
    ("ws", HOST, f"http://{HOST}.evil.example", False),
    ("ws", HOST, "null", False),  # sandboxed frames, file: pages
    ("ws", HOST, "", False),
    ("ws", HOST, None, False),  # no Origin header at all
    # HTTPS site (wss): only the https origin.
    ("wss", HOST, f"https://{HOST}", True),
    ("wss", HOST, f"https://{HOST}:443", True),
    ("wss", HOST, f"http://{HOST}", False),
    ("wss", HOST, f"https://{HOST}:8443", False),
    # The port is part of the Host header and of the origin.
    ("ws", "127.0.0.1:8000", "http://127.0.0.1:8000", True),
    ("ws", "127.0.0.1:8000", "http://127.0.0.1:8001", False),
    ("ws", "127.0.0.1:8000", "http://127.0.0.1", False),
    ("ws", "127.0.0.1:8000", "http://localhost:8000", False),  # another host of this server
    # A Host that is not in ALLOWED_HOSTS (DNS rebinding) opens nothing, even same-origin.
    ("ws", "evil.example", "http://evil.example", False),
    # CSRF_TRUSTED_ORIGINS are accepted as written, scheme and all; `*.` means subdomains.
    ("ws", HOST, "https://partner.example.net", True),
    ("ws", HOST, "http://partner.example.net", False),
    ("ws", HOST, "https://partner.example.net:8443", False),
    ("ws", HOST, "https://video.clinic.example.com", True),
    ("ws", HOST, "https://clinic.example.com.evil.example", False),
    ("ws", HOST, "http://video.clinic.example.com", False),
]


@pytest.mark.parametrize(("scheme", "host", "origin", "opens"), CASES)
async def test_only_this_sites_own_or_trusted_origins_open_a_socket(scheme, host, origin, opens):
    assert await _opens(origin, scheme=scheme, host=host) is opens


@pytest.mark.parametrize(
    ("proxy_header", "forwarded_proto", "origin", "opens"),
    [
        # Behind a TLS proxy the socket arrives as ws; the proxy's header says https.
        (("HTTP_X_FORWARDED_PROTO", "https"), "https", f"https://{HOST}", True),
        (("HTTP_X_FORWARDED_PROTO", "https"), "https", f"http://{HOST}", False),
        (("HTTP_X_FORWARDED_PROTO", "https"), "http", f"https://{HOST}", False),
        # Not configured to trust the header: a client cannot claim https with it.
        (None, "https", f"https://{HOST}", False),
        (None, "https", f"http://{HOST}", True),
    ],
)
async def test_the_scheme_follows_secure_proxy_ssl_header(
    settings, proxy_header, forwarded_proto, origin, opens
):
    settings.SECURE_PROXY_SSL_HEADER = proxy_header
    headers = [("x-forwarded-proto", forwarded_proto)]
    assert await _opens(origin, scheme="ws", headers=headers) is opens


async def test_two_origin_headers_are_refused():
    headers = [("origin", "http://evil.example")]
    assert await _opens(f"http://{HOST}", headers=headers) is False
