"""A live Clinic Meet (Daphne, embedded defaults, the demo clinic) and Debian's Chromium with
fake camera and microphone, for tests that use the visit room as people do."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.network import PrivateNetwork, can_create_namespaces

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    # Screen sharing without a picker: the fake capture stands in for the whole screen.
    "--auto-select-desktop-capture-source=Entire screen",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers_healthz(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def _wait_healthy(base: str, process: subprocess.Popen, log: Path, healthy) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited:\n{log.read_text()}")
        if healthy(base):
            return
        time.sleep(0.3)
    pytest.fail("server did not become healthy")


@pytest.fixture(params=["p2p", "calls"])
def media_mode(request):
    """Both media paths: peer-to-peer (the default) and Cloudflare Calls, played by the local
    Calls-compatible SFU (standins/calls_sfu). Yields the server environment for the mode."""
    if request.param == "p2p":
        yield {}
        return
    from standins.calls_sfu.server import start_in_thread

    sfu = start_in_thread(app_id="e2e-app", app_secret="e2e-secret-never-in-the-browser")
    try:
        yield {
            "CALLS_APP_ID": "e2e-app",
            "CALLS_APP_SECRET": "e2e-secret-never-in-the-browser",
            "CALLS_API_URL": sfu.base_url,
        }
    finally:
        sfu.stop()


def _start_clinic(tmp_path, extra_env: dict, *, wrap: tuple = (), healthy=None):
    """Migrates and seeds a fresh SQLite demo clinic and serves it with Daphne. `wrap` prefixes
    the server command (to run it inside a network namespace); yields the base URL."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        SQLITE_PATH=str(tmp_path / "e2e.sqlite3"),
        DEBUG="true",
        ICE_SERVERS="stun:127.0.0.1:9",  # nothing external; host candidates do the work
        DJANGO_SETTINGS_MODULE="clinic.settings",
        **extra_env,
    )
    manage = [sys.executable, str(REPO / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], cwd=REPO, env=env, check=True)
    subprocess.run([*manage, "seed_demo"], cwd=REPO, env=env, check=True, capture_output=True)
    port = _free_port()
    log = tmp_path / "daphne.log"
    process = subprocess.Popen(
        [
            *wrap,
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "clinic.asgi:application",
        ],
        cwd=REPO,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process, log, healthy or _answers_healthz)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)


@pytest.fixture
def live_clinic(tmp_path, media_mode):
    """Daphne on a fresh SQLite demo clinic, in the media mode under test."""
    yield from _start_clinic(tmp_path, media_mode)


@pytest.fixture
def playwright_driver():
    """One Playwright driver per test: every browser of the test is launched from it (the sync
    API allows only one at a time)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


def _launch_chromium(driver, executable: str | Path = CHROMIUM, args=CHROMIUM_ARGS):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it with apt-get")
    browser = driver.chromium.launch(executable_path=str(executable), args=args)
    yield browser
    browser.close()


@pytest.fixture
def browser(playwright_driver):
    yield from _launch_chromium(playwright_driver)


@pytest.fixture
def browser_that_asks(playwright_driver):
    """Fake devices, but camera and microphone need the site's permission, as in a real
    browser; headless Chromium answers an unanswered prompt with NotAllowedError."""
    args = [arg for arg in CHROMIUM_ARGS if arg != "--use-fake-ui-for-media-stream"]
    yield from _launch_chromium(playwright_driver, args=args)


@pytest.fixture
def browser_without_devices(playwright_driver):
    """No camera, no microphone (this machine has none without the fake ones)."""
    args = [arg for arg in CHROMIUM_ARGS if arg != "--use-fake-device-for-media-stream"]
    yield from _launch_chromium(playwright_driver, args=args)


@pytest.fixture
def private_network():
    """A network namespace of this test's own (see tests/e2e/network.py)."""
    if not can_create_namespaces():
        reason = "network namespaces need root and iproute2"
        if os.environ.get("E2E_REQUIRE_NETNS"):  # set by .ci/run: CI must run these tests
            pytest.fail(reason)
        pytest.skip(reason)
    network = PrivateNetwork(f"cm-e2e-{os.getpid()}")
    network.create()
    try:
        yield network
    finally:
        network.destroy()


@pytest.fixture
def clinic_on_private_network(tmp_path, private_network):
    """The demo clinic (peer-to-peer) served inside the private network."""
    yield from _start_clinic(
        tmp_path, {}, wrap=private_network.wrap, healthy=private_network.answers_healthz
    )


@pytest.fixture
def browser_on_private_network(playwright_driver, tmp_path, private_network):
    launcher = private_network.chromium_launcher(tmp_path, CHROMIUM)
    yield from _launch_chromium(playwright_driver, launcher)
