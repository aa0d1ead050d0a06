"""CallsClient under failure: errors become CallsError; retries are bounded and only where safe."""

import socket
from types import SimpleNamespace

import pytest
import requests

from clinic.integrations.cloudflare import calls_client
from clinic.integrations.cloudflare.calls_client import (
    CallsClient,
    CallsConfigurationError,
    CallsError,
    CallsUnavailableError,
    SessionDescription,
)

OFFER = SessionDescription("offer", "v=0\r\n")


class CountingSession(requests.Session):
    """A real session that counts the client's attempts; or fails each one with `failure`."""

    def __init__(self, failure: Exception | None = None) -> None:
        super().__init__()
        self.attempts = 0
        self.failure = failure

    def request(self, *args, **kwargs):
        self.attempts += 1
        if self.failure is not None:
            raise self.failure
        return super().request(*args, **kwargs)


@pytest.fixture
def backoffs(monkeypatch) -> list[float]:
    """The client's waits between attempts, in seconds (it waits for none of them)."""
    waits: list[float] = []
    monkeypatch.setattr(calls_client, "time", SimpleNamespace(sleep=waits.append))
    return waits


def client_for(calls, **overrides) -> CallsClient:
    options = {"timeout": (1.0, 0.5), "attempts": 3, "backoff_seconds": 0.01}
    options.update(overrides)
    return CallsClient(base_url=calls.base_url, app_id="app1", app_secret="s3cret", **options)


def test_every_request_carries_the_bearer_secret_and_app_path(scripted_calls):
    result = client_for(scripted_calls).new_session()
    assert result.session_id == "s-default"
    (request,) = scripted_calls.requests
    assert request["authorization"] == "Bearer s3cret"
    assert request["path"] == "/v1/apps/app1/sessions/new"
    assert "s3cret" not in repr(client_for(scripted_calls))


def test_401_is_a_configuration_error_not_the_users_fault(scripted_calls):
    scripted_calls.then(401, {"errorCode": "unauthorized", "errorDescription": "bad token"})
    with pytest.raises(CallsConfigurationError, match="CALLS_APP_SECRET"):
        client_for(scripted_calls).new_session()


def test_request_level_error_codes_become_calls_errors(scripted_calls):
    scripted_calls.then(400, {"errorCode": "invalid_request_body", "errorDescription": "no sdp"})
    with pytest.raises(CallsError) as raised:
        client_for(scripted_calls).new_tracks(
            "s1", [{"location": "local", "trackName": "a"}], OFFER
        )
    assert (raised.value.code, raised.value.description, raised.value.status) == (
        "invalid_request_body",
        "no sdp",
        400,
    )
    # An errorCode inside a 200 is an error too.
    scripted_calls.then(200, {"errorCode": "session_error", "errorDescription": "gone"})
    with pytest.raises(CallsError, match="session_error"):
        client_for(scripted_calls).session_state("s1")


def test_per_track_errors_inside_a_200_are_reported_per_track(scripted_calls):
    scripted_calls.then(
        200,
        {
            "requiresImmediateRenegotiation": True,
            "sessionDescription": {"type": "offer", "sdp": "v=0"},
            "tracks": [
                {"trackName": "cam", "mid": "0", "sessionId": "a"},
                {"trackName": "mic", "errorCode": "not_found", "errorDescription": "no track"},
            ],
        },
    )
    result = client_for(scripted_calls).new_tracks(
        "s1",
        [
            {"location": "remote", "sessionId": "a", "trackName": "cam"},
            {"location": "remote", "sessionId": "a", "trackName": "mic"},
        ],
    )
    assert result.requires_immediate_renegotiation
    assert result.tracks[0].error is None and result.tracks[0].mid == "0"
    assert [(e.code, e.description) for e in result.errors] == [("not_found", "no track")]


def test_5xx_is_retried_with_backoff_for_safe_calls_and_bounded(scripted_calls, backoffs):
    scripted_calls.then(503).then(502).then(200, {"tracks": [], "dataChannels": []})
    state = client_for(scripted_calls).session_state("s1")
    assert state.tracks == [] and len(scripted_calls.requests) == 3
    assert backoffs == [0.01, 0.02]  # doubling from backoff_seconds

    scripted_calls.requests.clear()
    backoffs.clear()
    for _ in range(5):
        scripted_calls.then(503, {"errorCode": "internal", "errorDescription": "down"})
    with pytest.raises(CallsUnavailableError):
        client_for(scripted_calls).session_state("s1")
    assert len(scripted_calls.requests) == 3  # bounded by `attempts`
    assert backoffs == [0.01, 0.02]  # no wait after the last attempt


def test_unsafe_calls_are_not_repeated_after_a_5xx_or_a_read_timeout(scripted_calls):
    scripted_calls.then(503).then(201, {"sessionId": "second"})
    with pytest.raises(CallsUnavailableError):
        client_for(scripted_calls).new_session()
    assert len(scripted_calls.requests) == 1

    scripted_calls.requests.clear()
    scripted_calls.script.clear()
    scripted_calls.then(200, {"tracks": []}, delay=1.0)
    with pytest.raises(CallsUnavailableError, match=r"timed out|did not answer"):
        client_for(scripted_calls).new_tracks(
            "s1", [{"location": "local", "trackName": "a"}], OFFER
        )
    assert len(scripted_calls.requests) == 1


def test_read_timeouts_are_retried_for_safe_calls(scripted_calls, backoffs):
    scripted_calls.then(200, {}, delay=1.0).then(200, {"tracks": [{"mid": "0"}]})
    state = client_for(scripted_calls).session_state("s1")
    assert state.tracks == [{"mid": "0"}]
    assert len(scripted_calls.requests) == 2
    assert backoffs == [0.01]


def test_refused_connections_are_retried_then_reported(backoffs):
    """A refused connection never reached Calls: even an unsafe call (sessions/new) is tried
    `attempts` times."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    session = CountingSession()
    client = CallsClient(
        base_url=f"http://127.0.0.1:{port}/v1",
        app_id="a",
        app_secret="s",
        backoff_seconds=0.01,
        session=session,
    )
    with pytest.raises(CallsUnavailableError, match="did not answer") as raised:
        client.new_session()
    assert raised.value.code == "unreachable"
    assert session.attempts == 3
    assert backoffs == [0.01, 0.02]


def test_connect_timeouts_are_retried_even_for_unsafe_calls(backoffs):
    """A connect timeout means the request never left either (a read timeout is not retried
    for unsafe calls: see above)."""
    session = CountingSession(failure=requests.ConnectTimeout("connect timed out"))
    client = CallsClient(
        base_url="http://calls.invalid/v1", app_id="a", app_secret="s", session=session
    )
    with pytest.raises(CallsUnavailableError, match="did not answer") as raised:
        client.new_session()
    assert raised.value.code == "timeout"
    assert session.attempts == 3
    assert backoffs == [0.2, 0.4]  # the default backoff, doubling
