"""`python -m standins.calls_sfu`: its defaults from the environment, its checks, and the URL it
prints."""

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from standins.calls_sfu import server as sfu_server
from standins.calls_sfu.__main__ import main

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def served(monkeypatch):
    """Instead of blocking, serve_forever starts the configured SFU on a thread, lets the
    command print, proves the SFU answers at the printed URL, and stops it."""
    seen = {}

    def serve(config, on_ready=None):
        seen["config"] = config
        thread = sfu_server.SFUThread(config).start()
        try:
            on_ready(thread.server)
            url = f"{thread.base_url}/apps/{config.app_id}/sessions/new"
            headers = {"Authorization": f"Bearer {config.app_secret}"}
            seen["status"] = requests.post(url, headers=headers, timeout=10).status_code
        finally:
            thread.stop()

    monkeypatch.setattr(sfu_server, "serve_forever", serve)
    return seen


@pytest.fixture
def environ() -> dict[str, str]:
    """The environment the entry point reads its defaults from."""
    return {}


@pytest.fixture
def run(environ, capsys):
    def run(*args: str) -> str:
        main(list(args), environ)
        return capsys.readouterr().out

    return run


def test_defaults_come_from_the_calls_environment(environ, run, served):
    environ.update(CALLS_APP_ID="app-from-env", CALLS_APP_SECRET="secret-from-env")
    output = run("--port", "0")
    config = served["config"]
    assert (config.app_id, config.app_secret, config.host) == (
        "app-from-env",
        "secret-from-env",
        "127.0.0.1",
    )
    assert served["status"] == 201
    (line,) = [line for line in output.splitlines() if line.startswith("CALLS_API_URL=")]
    assert line.startswith("CALLS_API_URL=http://127.0.0.1:")
    assert line.endswith("/v1")


def test_options_override_the_environment(environ, run, served):
    environ.update(CALLS_APP_ID="app-from-env", CALLS_APP_SECRET="secret-from-env")
    run("--port", "0", "--app-id", "cli-app", "--app-secret", "cli-secret",
        "--turn-key-id", "key", "--turn-key-token", "token")  # fmt: skip
    config = served["config"]
    assert (config.app_id, config.app_secret) == ("cli-app", "cli-secret")
    assert (config.turn_key_id, config.turn_key_token) == ("key", "token")
    assert served["status"] == 201


def test_tamper_media_is_off_unless_asked_for_and_says_so(environ, run, served):
    environ.update(CALLS_APP_ID="a", CALLS_APP_SECRET="s")
    assert "TEST ONLY" not in run("--port", "0")
    assert served["config"].tamper_media is False
    assert "TEST ONLY" in run("--port", "0", "--tamper-media")
    assert served["config"].tamper_media is True
    assert served["status"] == 201


def test_the_default_port_is_8787(environ, run, monkeypatch):
    environ.update(CALLS_APP_ID="a", CALLS_APP_SECRET="s")
    seen = {}
    monkeypatch.setattr(sfu_server, "serve_forever", lambda config, on_ready: seen.update(c=config))
    run()
    assert seen["c"].port == 8787


def test_without_an_app_id_and_secret_it_refuses(environ, run):
    with pytest.raises(SystemExit, match="CALLS_APP_ID and CALLS_APP_SECRET"):
        run("--port", "0")


def test_it_binds_loopback_only(environ, run):
    environ.update(CALLS_APP_ID="a", CALLS_APP_SECRET="s")
    with pytest.raises(SystemExit, match="loopback only"):
        run("--host", "0.0.0.0")  # noqa: S104 - the address being refused


def test_without_the_sfu_extra_it_says_how_to_install_it(environ, run, monkeypatch):
    environ.update(CALLS_APP_ID="a", CALLS_APP_SECRET="s")
    monkeypatch.setitem(sys.modules, "aiortc", None)  # import aiortc now raises ImportError
    with pytest.raises(SystemExit, match=r"aiortc.*\.\[sfu\]"):
        run()


def test_a_taken_port_is_a_clear_error(environ, run):
    environ.update(CALLS_APP_ID="a", CALLS_APP_SECRET="s")
    with sfu_server.start_in_thread() as taken:
        port = taken.base_url.rsplit(":", 1)[1].split("/")[0]
        with pytest.raises(SystemExit, match="Cannot serve"):
            run("--port", port)


def test_it_runs_as_a_module_and_shows_its_options():
    done = subprocess.run(
        [sys.executable, "-m", "standins.calls_sfu", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for option in ("--host", "--port", "--app-id", "--app-secret", "--turn-key-id"):
        assert option in done.stdout
    assert "--tamper-media" in done.stdout
    assert "TEST ONLY" in done.stdout
