"""`manage.py calls_sfu`: its settings, its checks, and the URL it prints."""

import io
import sys

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError

from rooms.sfu import server as sfu_server

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


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("calls_sfu", *args, stdout=out)
    return out.getvalue()


def test_defaults_come_from_the_calls_settings(settings, served):
    settings.CALLS_APP_ID = "app-from-settings"
    settings.CALLS_APP_SECRET = "secret-from-settings"
    settings.TURN_KEY_ID = ""
    settings.TURN_KEY_API_TOKEN = ""
    output = run("--port", "0")
    config = served["config"]
    assert (config.app_id, config.app_secret, config.host) == (
        "app-from-settings",
        "secret-from-settings",
        "127.0.0.1",
    )
    assert served["status"] == 201
    (line,) = [line for line in output.splitlines() if line.startswith("CALLS_API_URL=")]
    assert line.startswith("CALLS_API_URL=http://127.0.0.1:")
    assert line.endswith("/v1")


def test_options_override_the_settings(settings, served):
    settings.CALLS_APP_ID = "app-from-settings"
    settings.CALLS_APP_SECRET = "secret-from-settings"
    run("--port", "0", "--app-id", "cli-app", "--app-secret", "cli-secret",
        "--turn-key-id", "key", "--turn-key-token", "token")  # fmt: skip
    config = served["config"]
    assert (config.app_id, config.app_secret) == ("cli-app", "cli-secret")
    assert (config.turn_key_id, config.turn_key_token) == ("key", "token")
    assert served["status"] == 201


def test_the_default_port_is_8787(settings, monkeypatch):
    settings.CALLS_APP_ID, settings.CALLS_APP_SECRET = "a", "s"
    seen = {}
    monkeypatch.setattr(sfu_server, "serve_forever", lambda config, on_ready: seen.update(c=config))
    run()
    assert seen["c"].port == 8787


def test_without_an_app_id_and_secret_it_refuses(settings):
    settings.CALLS_APP_ID = settings.CALLS_APP_SECRET = ""
    with pytest.raises(CommandError, match="CALLS_APP_ID and CALLS_APP_SECRET"):
        run("--port", "0")


def test_it_binds_loopback_only(settings):
    settings.CALLS_APP_ID, settings.CALLS_APP_SECRET = "a", "s"
    with pytest.raises(CommandError, match="loopback only"):
        run("--host", "0.0.0.0")  # noqa: S104 - the address being refused


def test_without_the_sfu_extra_it_says_how_to_install_it(settings, monkeypatch):
    settings.CALLS_APP_ID, settings.CALLS_APP_SECRET = "a", "s"
    monkeypatch.setitem(sys.modules, "aiortc", None)  # import aiortc now raises ImportError
    with pytest.raises(CommandError, match=r"aiortc.*\.\[sfu\]"):
        run()


def test_a_taken_port_is_a_clear_error(settings):
    settings.CALLS_APP_ID, settings.CALLS_APP_SECRET = "a", "s"
    with sfu_server.start_in_thread() as taken:
        port = taken.base_url.rsplit(":", 1)[1].split("/")[0]
        with pytest.raises(CommandError, match="Cannot serve"):
            run("--port", port)
