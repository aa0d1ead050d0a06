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

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "test-results" / "e2e"
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


def _wait_healthy(base: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited:\n{log.read_text()}")
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    pytest.fail("server did not become healthy")


@pytest.fixture(params=["p2p", "calls"])
def media_mode(request):
    """Both media paths: peer-to-peer (the default) and Cloudflare Calls, played by the local
    Calls-compatible SFU (rooms/sfu). Yields the server environment for the mode."""
    if request.param == "p2p":
        yield {}
        return
    from rooms.sfu.server import start_in_thread

    sfu = start_in_thread(app_id="e2e-app", app_secret="e2e-secret-never-in-the-browser")
    try:
        yield {
            "CALLS_APP_ID": "e2e-app",
            "CALLS_APP_SECRET": "e2e-secret-never-in-the-browser",
            "CALLS_API_URL": sfu.base_url,
        }
    finally:
        sfu.stop()


@pytest.fixture
def live_clinic(tmp_path, media_mode):
    """Daphne on a fresh SQLite demo clinic, in the media mode under test."""
    extra_env = media_mode
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
        _wait_healthy(base, process, log)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it with apt-get")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def sign_in(browser, base: str, username: str, password: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("pageerror", lambda error: print(f"[{username}] page error: {error}"))
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return page


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
