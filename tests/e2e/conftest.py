"""A live Clinic Meet (Daphne, embedded defaults, the demo clinic) and Debian's Chromium with
fake camera and microphone, for tests that use the visit room as people do."""

import os
import shutil
from pathlib import Path

import pytest

from tests.e2e.network import PrivateNetwork, can_create_namespaces
from tests.live_server import (
    LiveServer,
    answers_healthz,
    development_environment,
    manage,
)

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


def _start_clinic(tmp_path, extra_env: dict, *, wrap: tuple = (), ready=answers_healthz):
    """Migrates and seeds a fresh SQLite demo clinic and serves it (DEBUG on, as `make run`).
    `wrap` prefixes the server command (to run it inside a network namespace); yields the base
    URL."""
    env = development_environment(
        SQLITE_PATH=str(tmp_path / "e2e.sqlite3"),
        MEDIA_ROOT=str(tmp_path / "media"),  # the recordings: in the test's folder
        ICE_SERVERS="stun:127.0.0.1:9",  # nothing external; host candidates do the work
        **extra_env,
    )
    manage(env, "migrate", "-v0")
    manage(env, "seed_demo")
    # No recordings worker: only the recording tests need one (test_recording.py starts it).
    with LiveServer(env, tmp_path / "daphne.log", wrap=wrap, ready=ready) as server:
        yield server.http_url


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
        tmp_path, {}, wrap=private_network.wrap, ready=private_network.answers_healthz
    )


@pytest.fixture
def browser_on_private_network(playwright_driver, tmp_path, private_network):
    launcher = private_network.chromium_launcher(tmp_path, CHROMIUM)
    yield from _launch_chromium(playwright_driver, launcher)
