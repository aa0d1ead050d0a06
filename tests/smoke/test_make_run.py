"""The README's first command, `make run`, brings up a working portal on the embedded defaults."""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 120

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def running_app(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env["SQLITE_PATH"] = str(tmp_path / "smoke.sqlite3")
    log = (tmp_path / "make-run.log").open("w")
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"make run exited early:\n{(tmp_path / 'make-run.log').read_text()}")
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no healthy app after {START_TIMEOUT_SECONDS}s")
            time.sleep(0.5)
        yield base, tmp_path / "make-run.log"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def test_make_run_serves_the_portal_with_demo_logins(running_app):
    base, log_path = running_app
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
