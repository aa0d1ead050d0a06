import pytest
from sfu_testkit import APP_ID, APP_SECRET, TURN_KEY_ID, TURN_KEY_TOKEN, CallsApi

from standins.calls_sfu.server import start_in_thread


@pytest.fixture(scope="module")
def sfu():
    """The local SFU on a free loopback port, on its own thread; one per test module."""
    server = start_in_thread(
        app_id=APP_ID,
        app_secret=APP_SECRET,
        turn_key_id=TURN_KEY_ID,
        turn_key_token=TURN_KEY_TOKEN,
    )
    yield server
    server.stop()


@pytest.fixture
def api(sfu) -> CallsApi:
    return CallsApi(sfu.base_url, APP_ID, APP_SECRET)
