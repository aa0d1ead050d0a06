"""The Calls app secret (and the TURN key's API token) never reach a browser, in Calls mode.

Each test sets known values and searches for those exact values in everything a browser is
given: the room page, its config JSON, every Calls proxy response (bodies and headers, errors
too) and the static files. That the values are in use is checked too (the scripted Calls
stand-in sees them as bearer tokens), so the search is never over a page made without them.
"""

import json
import re

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse
from rest_framework.test import APIClient

from tests.calls.conftest import enter_room
from tests.factories import at, make_appointment

pytestmark = pytest.mark.django_db

CALLS_SECRET = "calls-secret-7f3c9e1a5b2d4860"
TURN_TOKEN = "turn-token-0b8e6d2c4a1f3957"
SECRETS = (CALLS_SECRET, TURN_TOKEN)
OFFER = {"type": "offer", "sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n"}
ANSWER = {"type": "answer", "sdp": "v=0"}


@pytest.fixture
def calls_mode(settings, scripted_calls):
    settings.CALLS_APP_ID = "app-secret-test"
    settings.CALLS_APP_SECRET = CALLS_SECRET
    settings.CALLS_API_URL = scripted_calls.base_url
    settings.TURN_KEY_ID, settings.TURN_KEY_API_TOKEN = "turn-key-1", TURN_TOKEN
    return scripted_calls


@pytest.fixture
def visit():
    return make_appointment(start=at(minutes=5), status="confirmed")


def assert_no_secret(where: str, text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{where} holds the secret {secret!r}"


def assert_response_keeps_the_secrets(where: str, response) -> None:
    assert_no_secret(f"{where} (body)", response.content.decode())
    assert_no_secret(f"{where} (headers)", json.dumps(dict(response.headers)))


def room_config(page: str) -> dict:
    found = re.search(r'<script id="room-config" type="application/json">(.*?)</script>', page)
    assert found, "the room page has no config"
    return json.loads(found.group(1))


def test_the_room_page_and_its_config_hold_no_secret(client, visit, calls_mode):
    for user in (visit.doctor.user, visit.patient.user):
        client.force_login(user)
        response = client.get(reverse("rooms:room", args=[visit.room_id]))
        assert response.status_code == 200
        page = response.content.decode()
        config = room_config(page)
        assert config["callsUrl"], "the page is not in Calls mode"
        assert_no_secret(f"the {config['role']}'s config", json.dumps(config))
        assert_response_keeps_the_secrets(f"the {config['role']}'s room page", response)


def _url(visit, name, session_id=None) -> str:
    kwargs = {"room_id": visit.room_id} | ({"session_id": session_id} if session_id else {})
    return reverse(f"rooms-api:{name}", kwargs=kwargs)


def test_no_calls_proxy_response_holds_a_secret(visit, calls_mode):
    enter_room(visit, visit.doctor.user)
    enter_room(visit, visit.patient.user)
    doctor, patient = APIClient(), APIClient()
    doctor.force_authenticate(visit.doctor.user)
    patient.force_authenticate(visit.patient.user)
    turn = {
        "iceServers": [{"urls": ["turn:turn.example:3478"], "username": "u", "credential": "c"}]
    }
    pushed = {
        "sessionDescription": ANSWER,
        "tracks": [{"trackName": "cam", "mid": "0"}],
    }
    pulled = {
        "requiresImmediateRenegotiation": True,
        "sessionDescription": OFFER,
        "tracks": [{"trackName": "cam", "mid": "1", "sessionId": "sess-doctor"}],
    }
    # (who, method, url, body, Calls' scripted answer, expected status): one of each endpoint,
    # then Calls refusing our credentials, failing, and refusing a request.
    exchanges = [
        (patient, "get", _url(visit, "ice-servers"), None, (201, turn), 200),
        (
            doctor,
            "post",
            _url(visit, "calls-session-new"),
            {},
            (201, {"sessionId": "sess-doctor"}),
            201,
        ),
        (
            doctor,
            "post",
            _url(visit, "calls-tracks-new", "sess-doctor"),
            {
                "sessionDescription": OFFER,
                "tracks": [{"location": "local", "mid": "0", "trackName": "cam"}],
            },
            (200, pushed),
            200,
        ),
        (
            patient,
            "post",
            _url(visit, "calls-session-new"),
            {},
            (201, {"sessionId": "sess-patient"}),
            201,
        ),
        (
            patient,
            "post",
            _url(visit, "calls-tracks-new", "sess-patient"),
            {"tracks": [{"location": "remote", "sessionId": "sess-doctor", "trackName": "cam"}]},
            (200, pulled),
            200,
        ),
        (
            patient,
            "put",
            _url(visit, "calls-renegotiate", "sess-patient"),
            {"sessionDescription": ANSWER},
            (200, {}),
            200,
        ),
        (
            patient,
            "put",
            _url(visit, "calls-tracks-update", "sess-patient"),
            {"tracks": [{"mid": "1", "sessionId": "sess-doctor", "trackName": "cam"}]},
            (200, {"tracks": [{"mid": "1"}]}),
            200,
        ),
        (
            patient,
            "get",
            _url(visit, "calls-session", "sess-patient"),
            None,
            (200, {"tracks": [{"mid": "1", "status": "active"}]}),
            200,
        ),
        (
            patient,
            "put",
            _url(visit, "calls-tracks-close", "sess-patient"),
            {"tracks": [{"mid": "1"}], "force": True},
            (200, {"tracks": [{"mid": "1"}]}),
            200,
        ),
        (
            doctor,
            "post",
            _url(visit, "calls-session-new"),
            {},
            (401, {"errorCode": "unauthorized", "errorDescription": "bad secret"}),
            503,
        ),
        (
            doctor,
            "get",
            _url(visit, "calls-session", "sess-doctor"),
            None,
            (500, {"errorCode": "internal", "errorDescription": "down"}),
            503,
        ),
        (
            doctor,
            "put",
            _url(visit, "calls-renegotiate", "sess-doctor"),
            {"sessionDescription": ANSWER},
            (400, {"errorCode": "invalid_sdp", "errorDescription": "no such offer"}),
            400,
        ),
    ]
    for who, method, url, body, (status, answer), expected in exchanges:
        calls_mode.then(status, answer)
        if status >= 500:
            for _ in range(2):  # retried: it keeps failing
                calls_mode.then(status, answer)
        response = getattr(who, method)(url, body, format="json")
        assert response.status_code == expected, (url, response.content)
        assert_response_keeps_the_secrets(f"{method.upper()} {url}", response)

    # The secrets were live: every request to Calls carried one of them.
    used = {request["authorization"] for request in calls_mode.requests}
    assert used == {f"Bearer {CALLS_SECRET}", f"Bearer {TURN_TOKEN}"}


def test_no_static_file_holds_a_secret(calls_mode):
    """Every file the static finders serve (our JavaScript and CSS, and the libraries')."""
    served = 0
    for finder in finders.get_finders():
        for path, storage in finder.list([]):
            with storage.open(path) as static_file:
                content = static_file.read()
            for secret in SECRETS:
                assert secret.encode() not in content, f"static {path} holds {secret!r}"
            served += path.endswith(".js")
    assert served, "no JavaScript was searched"
