"""A live Clinic Meet (Daphne, embedded defaults, the demo clinic) and Debian's Chromium with
fake camera and microphone, for tests that use the visit room as people do."""

import contextlib
import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from tests.e2e.network import PrivateNetwork, can_create_namespaces
from tests.live_server import (
    LiveServer,
    answers_healthz,
    development_environment,
    manage,
    migrated_sqlite,
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


# How old the demo clinic's template may be when a test copies it. seed_demo lays the visits out
# around its own now (Hanako's with Dr. Tanaka starts 4-5 min later and lasts 20 min; James's
# starts 40 min after hers). The tests need hers listed with a Join link (until it ends, 24 min
# after seeding at the earliest), its room open (2 h after that) and James's room still closed
# (from 29 min after seeding): a copy at most 10 min old leaves a test over 10 min to finish.
# Nothing the tests do depends on whether her start has passed (admitting starts the visit).
TEMPLATE_MAX_AGE_SECONDS = 10 * 60


class DemoClinicTemplate:
    """The demo clinic migrated (migrated_sqlite) and seeded (`manage seed_demo`) once into a
    SQLite file, copied for each test so that none sees another's writes (~10 s of subprocesses
    per test otherwise); seeded again once older than TEMPLATE_MAX_AGE_SECONDS."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "demo-clinic.sqlite3"
        self.env = development_environment(
            SQLITE_PATH=str(self.path), MEDIA_ROOT=str(folder / "media")
        )
        self.seeded_at = 0.0  # time.monotonic() before the last seed_demo began

    def _build(self) -> None:
        for leftover in self.path.parent.glob(f"{self.path.name}*"):
            leftover.unlink()
        migrated_sqlite(self.path)
        self.seeded_at = time.monotonic()
        manage(self.env, "seed_demo")

    def copy_to(self, destination: Path) -> Path:
        if time.monotonic() - self.seeded_at > TEMPLATE_MAX_AGE_SECONDS:
            self._build()
        # SQLite's backup, not a file copy: the template is in WAL mode, and the copy holds
        # every committed page whatever is still in the -wal file.
        with (
            contextlib.closing(sqlite3.connect(self.path)) as source,
            contextlib.closing(sqlite3.connect(destination)) as copy,
        ):
            source.backup(copy)
        return destination


@pytest.fixture(scope="session")
def demo_clinic_template(tmp_path_factory):
    return DemoClinicTemplate(tmp_path_factory.mktemp("demo-clinic-template"))


@pytest.fixture
def demo_clinic_database(tmp_path, demo_clinic_template) -> Path:
    """This test's own copy of the freshly seeded demo clinic (a SQLite file in tmp_path)."""
    return demo_clinic_template.copy_to(tmp_path / "e2e.sqlite3")


def _start_clinic(
    tmp_path, database: Path, extra_env: dict, *, wrap: tuple = (), ready=answers_healthz
):
    """Serves the test's copy of the demo clinic (DEBUG on, as `make run`). `wrap` prefixes the
    server command (to run it inside a network namespace); yields the base URL."""
    env = development_environment(
        SQLITE_PATH=str(database),
        MEDIA_ROOT=str(tmp_path / "media"),  # the recordings: in the test's folder
        ICE_SERVERS="stun:127.0.0.1:9",  # nothing external; host candidates do the work
        **extra_env,
    )
    # No recordings worker: only the recording tests need one (test_recording.py starts it).
    with LiveServer(env, tmp_path / "daphne.log", wrap=wrap, ready=ready) as server:
        yield server.http_url


@pytest.fixture
def live_clinic(tmp_path, demo_clinic_database, media_mode):
    """Daphne on a fresh SQLite demo clinic, in the media mode under test."""
    yield from _start_clinic(tmp_path, demo_clinic_database, media_mode)


@pytest.fixture(scope="module")
def playwright_driver():
    """One Playwright driver (its Node process, ~0.7 s to start) per module: every browser is
    launched from it (the sync API allows only one at a time). It holds no page state: each
    test launches browsers of its own. Not per session: while it runs, the thread counts as
    inside an event loop, which tests outside tests/e2e must not inherit."""
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
def clinic_on_private_network(tmp_path, demo_clinic_database, private_network):
    """The demo clinic (peer-to-peer) served inside the private network."""
    yield from _start_clinic(
        tmp_path,
        demo_clinic_database,
        {},
        wrap=private_network.wrap,
        ready=private_network.answers_healthz,
    )


@pytest.fixture
def browser_on_private_network(playwright_driver, tmp_path, private_network):
    launcher = private_network.chromium_launcher(tmp_path, CHROMIUM)
    yield from _launch_chromium(playwright_driver, launcher)
