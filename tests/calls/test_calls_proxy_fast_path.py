"""The Calls proxy's fast path, pinned by counting (never by timing): room-state reads and hops to
the event loop per proxied request, Redis round trips, SQL statements, and connections to Calls.

The rules behind each check are tests/calls/test_calls_proxy_authorization.py's; here only how
much each request costs to decide."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from asgiref.sync import async_to_sync
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework.validators import ProhibitSurrogateCharactersValidator
from rest_framework_simplejwt.tokens import AccessToken

from rooms.calls import rules
from rooms.state import RedisRoomStateStore, get_room_state_store
from tests.calls.conftest import PROXY_SECRET, enter_room
from tests.factories import at, make_appointment

pytestmark = pytest.mark.django_db

OFFER = {"type": "offer", "sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n"}
TRACKS = ("cam", "mic", "screen")


@pytest.fixture
def visit():
    return make_appointment(start=at(minutes=5), status="confirmed")


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _url(visit, name, session_id=None):
    kwargs = {"room_id": visit.room_id, **({"session_id": session_id} if session_id else {})}
    return reverse(f"rooms-api:{name}", kwargs=kwargs)


def _new_session(client, visit, calls, session_id):
    calls.then(201, {"sessionId": session_id})
    response = client.post(_url(visit, "calls-session-new"), {}, format="json")
    assert response.status_code == 201, response.content
    return session_id


def _push_tracks(client, visit, calls, session_id):
    calls.then(
        200,
        {"tracks": [{"trackName": name, "mid": str(mid)} for mid, name in enumerate(TRACKS)]},
    )
    body = {
        "sessionDescription": OFFER,
        "tracks": [
            {"location": "local", "mid": str(mid), "trackName": name}
            for mid, name in enumerate(TRACKS)
        ],
    }
    response = client.post(_url(visit, "calls-tracks-new", session_id), body, format="json")
    assert response.status_code == 200, response.content
    return response


class Counted:
    """The room-state store's operations as the proxy awaits them, and the proxy's hops from
    its sync views to the event loop (each async_to_sync is one)."""

    def __init__(self, monkeypatch) -> None:
        self.operations: list[str] = []
        self.hops = 0
        store = get_room_state_store()

        class CountingStore:
            def __getattr__(_, name):
                operation = getattr(store, name)

                async def counted(*args, **kwargs):
                    self.operations.append(name)
                    return await operation(*args, **kwargs)

                return counted

        counting = CountingStore()
        monkeypatch.setattr(rules, "_store", lambda: counting)
        hop = rules.async_to_sync

        def counted_hop(function):
            self.hops += 1
            return hop(function)

        monkeypatch.setattr(rules, "async_to_sync", counted_hop)

    def reset(self) -> None:
        self.operations.clear()
        self.hops = 0


@pytest.fixture
def doctor_and_patient(visit, calls_on):
    """Both admitted, the doctor publishing three tracks on sess-doctor, the patient holding
    sess-patient."""
    enter_room(visit, visit.doctor.user)
    enter_room(visit, visit.patient.user)
    doctor, patient = _api(visit.doctor.user), _api(visit.patient.user)
    _new_session(doctor, visit, calls_on, "sess-doctor")
    _push_tracks(doctor, visit, calls_on, "sess-doctor")
    _new_session(patient, visit, calls_on, "sess-patient")
    return doctor, patient


def test_a_session_request_reads_the_room_state_once(
    visit, calls_on, doctor_and_patient, monkeypatch
):
    _, patient = doctor_and_patient
    counted = Counted(monkeypatch)
    calls_on.then(200, {"tracks": []})
    response = patient.get(_url(visit, "calls-session", "sess-patient"))
    assert response.status_code == 200, response.content
    assert (counted.operations, counted.hops) == (["calls_snapshot"], 1)


def test_pulling_many_tracks_reads_the_room_state_once(
    visit, calls_on, doctor_and_patient, monkeypatch
):
    # Once read one at a time: the participants and the session's owner, then owner,
    # participants and published tracks again for each pulled track (11 reads, 11 hops here).
    _, patient = doctor_and_patient
    counted = Counted(monkeypatch)
    calls_on.then(
        200, {"tracks": [{"trackName": name, "mid": str(i)} for i, name in enumerate(TRACKS)]}
    )
    pull = {
        "tracks": [
            {"location": "remote", "sessionId": "sess-doctor", "trackName": name} for name in TRACKS
        ]
    }
    response = patient.post(_url(visit, "calls-tracks-new", "sess-patient"), pull, format="json")
    assert response.status_code == 200, response.content
    assert (counted.operations, counted.hops) == (["calls_snapshot"], 1)

    # The same read still refuses a track nobody published, before Calls is asked.
    asked = len(calls_on.requests)
    pull["tracks"][1]["trackName"] = "never-published"
    refused = patient.post(_url(visit, "calls-tracks-new", "sess-patient"), pull, format="json")
    assert refused.status_code == 403 and len(calls_on.requests) == asked


def test_publishing_writes_in_one_hop_after_calls(visit, calls_on, doctor_and_patient, monkeypatch):
    doctor, _ = doctor_and_patient
    counted = Counted(monkeypatch)
    _push_tracks(doctor, visit, calls_on, "sess-doctor")
    assert counted.operations == [
        "calls_snapshot",
        "calls_tracks_publish",
        "expire",
        "calls_published",
        "update",
    ]
    assert counted.hops == 2  # the checks before Calls; the writes after


def test_a_new_session_reads_once_and_records_in_one_hop(visit, calls_on, monkeypatch):
    enter_room(visit, visit.doctor.user)
    counted = Counted(monkeypatch)
    _new_session(_api(visit.doctor.user), visit, calls_on, "sess-1")
    assert counted.operations == ["calls_snapshot", "calls_session_add_capped", "expire"]
    assert counted.hops == 2


@pytest.fixture
def redis_store(settings):
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    store = get_room_state_store()
    assert isinstance(store, RedisRoomStateStore)
    return store


def test_the_checks_cost_one_redis_round_trip(
    visit, calls_on, doctor_and_patient, monkeypatch, redis_store
):
    import redis.asyncio.connection

    _, patient = doctor_and_patient
    sent = []
    send = redis.asyncio.connection.AbstractConnection.send_packed_command

    async def counted_send(connection, command, *args, **kwargs):
        sent.append(b"".join(command) if isinstance(command, list) else command)
        return await send(connection, command, *args, **kwargs)

    monkeypatch.setattr(
        redis.asyncio.connection.AbstractConnection, "send_packed_command", counted_send
    )
    calls_on.then(200, {"tracks": []})
    pull = {
        "tracks": [
            {"location": "remote", "sessionId": "sess-doctor", "trackName": name} for name in TRACKS
        ]
    }
    response = patient.post(_url(visit, "calls-tracks-new", "sess-patient"), pull, format="json")
    assert response.status_code == 200, response.content
    # Each test-client request runs on an event loop of its own, so it connects first (RESP:
    # "*<n>\r\n$<len>\r\n<first command's name>\r\n...").
    round_trips = [c for c in sent if c.split(b"\r\n")[2] not in (b"HELLO", b"CLIENT", b"SELECT")]
    assert len(round_trips) == 1, round_trips


def test_a_proxied_request_costs_two_sql_statements(
    visit, calls_on, doctor_and_patient, django_assert_num_queries
):
    # The signed-in user (JWT), then the room's appointment with its doctor and patient.
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(visit.patient.user)}")
    calls_on.then(200, {"tracks": []})
    with django_assert_num_queries(2):
        response = client.get(_url(visit, "calls-session", "sess-patient"))
    assert response.status_code == 200, response.content


def test_an_sdp_is_checked_for_surrogates_in_one_scan(
    visit, calls_on, doctor_and_patient, monkeypatch
):
    # DRF's own check walks the text a character at a time in Python (milliseconds per SDP).
    _, patient = doctor_and_patient
    walked = []
    walk = ProhibitSurrogateCharactersValidator.__call__

    def counted_walk(validator, value):
        walked.append(len(str(value)))
        return walk(validator, value)

    monkeypatch.setattr(ProhibitSurrogateCharactersValidator, "__call__", counted_walk)
    body = {"sessionDescription": {"type": "answer", "sdp": "v=0\r\n" + "a=x\r\n" * 2000}}
    calls_on.then(200, {})
    url = _url(visit, "calls-renegotiate", "sess-patient")
    assert patient.put(url, body, format="json").status_code == 200
    assert not [length for length in walked if length > 1]

    # A lone surrogate is still refused with DRF's message, before Calls is asked.
    asked = len(calls_on.requests)
    body["sessionDescription"]["sdp"] += "\ud83d"
    escaped = json.dumps(body)  # "\ud83d" as an escape: the JSON a browser could send
    refused = patient.put(url, escaped, content_type="application/json")
    assert refused.status_code == 400 and len(calls_on.requests) == asked
    assert refused.json()["sessionDescription"]["sdp"] == [
        "Surrogate characters are not allowed: U+D83D."
    ]


@pytest.fixture
def keep_alive_calls(settings):
    """A Calls stand-in over HTTP/1.1 that counts the connections opened to it."""
    opened = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            opened.append(self.client_address)
            super().setup()

        def do_GET(self):
            payload = b'{"tracks": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_POST = do_PUT = do_GET

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.CALLS_APP_ID = "app1"
    settings.CALLS_APP_SECRET = PROXY_SECRET
    settings.CALLS_API_URL = f"http://127.0.0.1:{server.server_port}/v1"
    yield opened
    server.shutdown()
    server.server_close()


def test_proxied_requests_share_one_connection_to_calls(visit, keep_alive_calls, monkeypatch):
    enter_room(visit, visit.doctor.user)
    async_to_sync(get_room_state_store().calls_session_add_capped)(
        visit.room_id.hex, "sess-1", visit.doctor.user_id, f"p{visit.doctor.user_id}", 4
    )
    # requests re-reads the proxy variables and ~/.netrc per request unless told not to.
    environment_reads = []
    for name in ("get_netrc_auth", "get_environ_proxies"):
        read = getattr(requests.sessions, name)
        monkeypatch.setattr(
            requests.sessions,
            name,
            lambda *args, _read=read, _name=name, **kwargs: (
                environment_reads.append(_name) or _read(*args, **kwargs)
            ),
        )
    doctor = _api(visit.doctor.user)
    for _ in range(10):
        response = doctor.get(_url(visit, "calls-session", "sess-1"))
        assert response.status_code == 200, response.content
    assert len(keep_alive_calls) == 1
    assert environment_reads == []
