"""The live-server harness (tests/live_server.py) that the live tests and the benchmarks share:
it says why a server did not come up, moves off a port taken meanwhile, and stops the server's
whole process group, escalating to SIGKILL."""

import socket
import sys
import time
from pathlib import Path

import pytest

from tests import live_server
from tests.live_server import (
    LiveServer,
    ServerDidNotStart,
    accepts_connections,
    answers_healthz,
    development_environment,
)

pytestmark = pytest.mark.slow

PROBE_APP = "tests.server.probe_app:application"

# A server that ignores SIGTERM (so does the child it starts, which inherits that) and answers
# every GET with 200; it prints its child's pid.
STUBBORN = """
import http.server, signal, subprocess, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print("child", child.pid, flush=True)

class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()

http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ok).serve_forever()
"""


def _gone(pid: int) -> bool:
    """Dead: no such process, or a zombie nobody has reaped yet."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


def test_a_server_that_exits_says_why_with_its_log(tmp_path):
    server = LiveServer(
        development_environment(), tmp_path / "server.log", app="tests.no_such_module:app"
    )
    with pytest.raises(ServerDidNotStart) as failure:
        server.start()
    message = str(failure.value)
    assert "exited with" in message
    assert "No module named 'tests.no_such_module'" in message, message
    assert not server.alive()


def test_a_port_taken_meanwhile_is_given_up_for_another(tmp_path, monkeypatch):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        taken = holder.getsockname()[1]
        ports = iter([taken, live_server.free_port()])
        monkeypatch.setattr(live_server, "free_port", lambda: next(ports))
        with LiveServer(
            development_environment(),
            tmp_path / "server.log",
            app=PROBE_APP,
            ready=accepts_connections,
        ) as server:
            assert server.port != taken
            assert "address already in use" in server.log().lower()
            socket.create_connection(("127.0.0.1", server.port), timeout=5).close()


def test_stop_kills_the_whole_process_group_when_sigterm_is_ignored(tmp_path):
    server = LiveServer(
        {},
        tmp_path / "stubborn.log",
        command=lambda port: [sys.executable, "-c", STUBBORN, str(port)],
        ready=answers_healthz,
        stop_timeout=1,
    ).start()
    (child,) = [int(line.split()[1]) for line in server.log().splitlines() if "child" in line]
    server.stop()
    assert server.process.returncode == -9  # SIGTERM was ignored: SIGKILL ended it
    deadline = time.monotonic() + 5
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child), "the server's child outlived it"


def test_a_server_never_ready_is_stopped_and_reported(tmp_path):
    server = LiveServer(
        {},
        tmp_path / "stubborn.log",
        command=lambda port: [sys.executable, "-c", STUBBORN, str(port)],
        ready=lambda _url: False,
        start_timeout=2,
        stop_timeout=1,
    )
    with pytest.raises(ServerDidNotStart, match="was not ready within 2 s"):
        server.start()
    assert not server.alive()
