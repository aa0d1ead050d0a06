"""The README's first command, `make run`, brings up a working portal on the embedded defaults."""

import os
import re

import pytest
import requests

from tests.live_server import LiveServer

START_TIMEOUT_SECONDS = 120  # make run installs first

pytestmark = pytest.mark.slow


def _make_run(port: int) -> list[str]:
    return ["make", "--no-print-directory", "run", f"PORT={port}"]


@pytest.fixture
def running_app(tmp_path):
    # The run's own environment, as a newcomer's shell has it, on a database of the test's own.
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env["SQLITE_PATH"] = str(tmp_path / "smoke.sqlite3")
    log_path = tmp_path / "make-run.log"
    server = LiveServer(
        env, log_path, command=_make_run, name="make run", start_timeout=START_TIMEOUT_SECONDS
    )
    with server:
        yield server.http_url, log_path


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
