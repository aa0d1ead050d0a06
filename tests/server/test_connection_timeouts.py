"""`python -m clinic.server` (Daphne with the clinic's limits) closes slow and idle clients.

Runs the launcher on a bare ASGI app (tests/server/probe_app.py) with short limits, over raw
sockets, as a slow or malicious client would talk to it.
"""

import socket
import time

import pytest
from websockets.sync.client import connect

from tests.live_server import LiveServer, accepts_connections, development_environment

REQUEST_SECONDS, IDLE_SECONDS, RESPONSE_SECONDS = 3, 2, 2
SLACK_SECONDS = 2.5  # Twisted's and Daphne's timers tick about once a second

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server_port(tmp_path_factory):
    env = development_environment(
        HTTP_REQUEST_TIMEOUT_SECONDS=str(REQUEST_SECONDS),
        HTTP_IDLE_TIMEOUT_SECONDS=str(IDLE_SECONDS),
        HTTP_RESPONSE_TIMEOUT_SECONDS=str(RESPONSE_SECONDS),
    )
    log_path = tmp_path_factory.mktemp("server") / "probe-server.log"
    # The probe app has no /healthz: it is up once its port takes connections.
    with LiveServer(
        env,
        log_path,
        app="tests.server.probe_app:application",
        ready=accepts_connections,
        start_timeout=30,
    ) as server:
        yield server.port


def _open(port: int) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port), timeout=1)
    client.settimeout(0.2)
    return client


def _closed_by_server(client: socket.socket) -> bool:
    try:
        return client.recv(4096) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def _request(client: socket.socket, path: str = "/") -> bytes:
    client.settimeout(RESPONSE_SECONDS + 5)
    client.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    answer = client.recv(4096)
    client.settimeout(0.2)
    return answer


def test_a_client_trickling_its_request_is_cut_off_at_the_request_deadline(server_port):
    client = _open(server_port)
    client.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    started = time.monotonic()
    # One byte of a header every 0.5 s: never idle, never done (slowloris).
    while time.monotonic() - started < REQUEST_SECONDS + SLACK_SECONDS + 3:
        try:
            client.sendall(b"X")
        except (BrokenPipeError, ConnectionResetError):
            break
        if _closed_by_server(client):
            break
        time.sleep(0.3)
    held = time.monotonic() - started
    assert held < REQUEST_SECONDS + SLACK_SECONDS, f"a trickling client was held {held:.1f} s"
    assert held > REQUEST_SECONDS - 1, f"closed after {held:.1f} s, before the deadline"


def test_an_idle_connection_closes_after_the_idle_timeout(server_port):
    client = _open(server_port)
    started = time.monotonic()
    while not _closed_by_server(client):
        if time.monotonic() - started > IDLE_SECONDS + SLACK_SECONDS + 3:
            break
    held = time.monotonic() - started
    assert held < IDLE_SECONDS + SLACK_SECONDS, f"an idle client was held {held:.1f} s"


def test_requests_on_a_keep_alive_connection_are_served_within_the_limits(server_port):
    client = _open(server_port)
    for _ in range(3):
        assert _request(client).startswith(b"HTTP/1.1 200")
        time.sleep(IDLE_SECONDS / 2)  # busy enough to stay open past the request deadline
    assert not _closed_by_server(client)


def test_an_application_too_slow_to_answer_gets_503(server_port):
    client = _open(server_port)
    started = time.monotonic()
    answer = _request(client, "/slow")
    assert answer.startswith(b"HTTP/1.1 503"), answer[:80]
    assert time.monotonic() - started < RESPONSE_SECONDS + SLACK_SECONDS


def test_a_websocket_outlives_the_http_deadlines(server_port):
    with connect(f"ws://127.0.0.1:{server_port}/ws/probe") as websocket:
        time.sleep(REQUEST_SECONDS + IDLE_SECONDS + 1)
        websocket.send("still here")
        assert websocket.recv(timeout=5) == "still here"
