"""The README's first command, `make run`, brings up a working portal on the embedded defaults,
with the recordings' worker beside it; Ctrl-C stops both."""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.live_server import REPO, LiveServer, migrated_sqlite

START_TIMEOUT_SECONDS = 120  # make run installs first

pytestmark = pytest.mark.slow


def _make_run(port: int) -> list[str]:
    return ["make", "--no-print-directory", "run", f"PORT={port}"]


@pytest.fixture(scope="module")
def running_app(tmp_path_factory):
    """One `make run` for the module (it migrates, seeds and starts two processes: ~20 s). The
    portal test only reads from it and signs in; the Ctrl-C test, last in the file, stops it."""
    # The run's own environment, as a newcomer's shell has it, on a database of its own.
    folder = tmp_path_factory.mktemp("make-run")
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env["SQLITE_PATH"] = str(folder / "smoke.sqlite3")
    log_path = folder / "make-run.log"
    server = LiveServer(
        env, log_path, command=_make_run, name="make run", start_timeout=START_TIMEOUT_SECONDS
    )
    with server:
        yield server.http_url, log_path, server


def test_make_run_serves_the_portal_with_demo_logins(running_app):
    base, log_path, _ = running_app
    health = requests.get(f"{base}/healthz", timeout=5).json()
    assert health["database"]["vendor"] == "sqlite"
    assert health["channel_layer"]["backend"] == "InMemoryChannelLayer"
    assert "Demo clinic ready" in log_path.read_text()

    session = requests.Session()
    login_page = session.get(f"{base}/accounts/login/", timeout=5)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text).group(1)
    home = session.post(
        f"{base}/accounts/login/",
        data={"username": "hanako", "password": "patient-demo-pass", "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=5,
    )
    assert home.url == f"{base}/"
    assert "Dr. Aiko Tanaka" in home.text
    assert re.search(r'href="/visits/[0-9a-f-]{36}/"', home.text), "no Join link for the soon visit"

    stylesheet = re.search(r'href="(/static/[^"]+\.css)"', home.text).group(1)
    assert session.get(f"{base}{stylesheet}", timeout=5).status_code == 200


def _processes_of_this_run(sqlite_path: str) -> dict[int, str]:
    """Every process with this run's database in its environment: pid -> command line."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if state != "Z" and f"SQLITE_PATH={sqlite_path}".encode() in environ:
            found[int(proc.name)] = cmdline
    return found


def test_make_run_starts_the_worker_and_ctrl_c_stops_it_with_the_server(running_app):
    _, log_path, server = running_app
    deadline = time.monotonic() + 60
    while "Starting worker" not in log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.5)
    log = log_path.read_text()
    assert "Starting worker" in log, log[-3000:]
    assert "Enqueued the periodic tasks" in log or "sweep_recordings" in log
    sqlite_path = server.env["SQLITE_PATH"]
    running = _processes_of_this_run(sqlite_path)
    assert any("recordings_worker" in command for command in running.values()), running
    assert any("clinic.server" in command for command in running.values()), running

    os.killpg(server.pid, signal.SIGINT)  # what a terminal sends its foreground job on Ctrl-C

    deadline = time.monotonic() + 30
    while _processes_of_this_run(sqlite_path) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _processes_of_this_run(sqlite_path) == {}


def test_when_the_server_cannot_start_the_worker_goes_too(tmp_path):
    """db_worker handles SIGINT itself, so Ctrl-C alone would reach it; the recipe's trap is
    for the server ending on its own (here: its port is taken)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    # Migrated already (the portal test above migrates a fresh one): the recipe's migrate has
    # nothing to do, and the test gets to the server and its worker ~5 s sooner.
    sqlite_path = migrated_sqlite(tmp_path / "taken.sqlite3")
    env["SQLITE_PATH"] = sqlite_path
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            _make_run(port),
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_SECONDS,
            check=False,
        )
    assert done.returncode != 0
    assert "Address already in use" in done.stdout + done.stderr
    deadline = time.monotonic() + 20
    while _processes_of_this_run(sqlite_path) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _processes_of_this_run(sqlite_path) == {}
