"""Daphne with the clinic's connection timeouts: `python -m clinic.server [daphne arguments]`.

Twisted, under Daphne, only closes a connection after 60 s *without a byte*, so a client that
trickles its request one byte at a time (slowloris) holds a connection for as long as it likes,
and Daphne's own `--http-timeout` (off by default) only starts once the request has arrived.
Here every request must arrive whole within HTTP_REQUEST_TIMEOUT_SECONDS, an idle keep-alive
connection closes after HTTP_IDLE_TIMEOUT_SECONDS, and the application must answer within
HTTP_RESPONSE_TIMEOUT_SECONDS (503 otherwise). WebSockets, once upgraded, are no longer HTTP
requests: their handshake, ping and lifetime limits are Daphne's, set from settings too.
A reverse proxy in front should enforce the same (or shorter) limits.
"""

import os
import sys

from daphne import server as daphne_server
from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory
from twisted.internet import reactor
from twisted.web import http


class DeadlineHTTPChannel(http.HTTPChannel):
    """An HTTP/1.1 channel that aborts a client not done sending its request in time."""

    request_seconds: float = 30.0
    _deadline = None

    def connectionMade(self) -> None:
        super().connectionMade()
        self._arm_deadline()

    def allContentReceived(self) -> None:
        self._cancel_deadline()  # the request is in: from here on it is the application's time
        super().allContentReceived()

    def requestDone(self, request) -> None:
        super().requestDone(request)
        if self.persistent and not self._handlingRequest:
            self._arm_deadline()  # the next request on a keep-alive connection

    def connectionLost(self, reason) -> None:
        self._cancel_deadline()
        super().connectionLost(reason)

    def _arm_deadline(self) -> None:
        self._cancel_deadline()
        self._deadline = reactor.callLater(self.request_seconds, self._too_slow)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport is not None:
            self.transport.abortConnection()


class ClinicHTTPFactory(HTTPFactory):
    def __init__(self, server, *, idle_seconds: float, request_seconds: float) -> None:
        super().__init__(server)
        self.timeOut = idle_seconds  # Twisted's idle timeout, 60 s by default
        self.request_seconds = request_seconds

    def protocol(self):  # Twisted builds each connection's protocol by calling this
        channel = DeadlineHTTPChannel()
        channel.request_seconds = self.request_seconds
        return http._GenericHTTPChannelProtocol(channel)


def daphne_arguments(settings) -> list[str]:
    """Daphne's own timeouts, from settings; arguments given on the command line come later
    and so win."""
    return [
        f"--http-timeout={settings.HTTP_RESPONSE_TIMEOUT_SECONDS}",
        f"--websocket_connect_timeout={settings.WEBSOCKET_CONNECT_TIMEOUT_SECONDS}",
        f"--ping-interval={settings.WEBSOCKET_PING_INTERVAL_SECONDS}",
        f"--ping-timeout={settings.WEBSOCKET_PING_TIMEOUT_SECONDS}",
    ]


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    from django.conf import settings

    def factory(server) -> ClinicHTTPFactory:
        return ClinicHTTPFactory(
            server,
            idle_seconds=settings.HTTP_IDLE_TIMEOUT_SECONDS,
            request_seconds=settings.HTTP_REQUEST_TIMEOUT_SECONDS,
        )

    # Daphne builds its HTTP factory by this module-level name and offers no hook for it.
    daphne_server.HTTPFactory = factory
    CommandLineInterface().run([*daphne_arguments(settings), *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
