"""The room-scoped Calls proxy: who may drive which session and pull which track.

Calls is a scripted stand-in over real HTTP, so "nothing reaches Calls" is a count of requests.
"""

import pytest
from asgiref.sync import async_to_sync
from django.urls import reverse
from rest_framework.test import APIClient

from rooms.calls import sessions as calls_sessions
from rooms.state import Participant, get_room_state_store
from tests.calls.conftest import PROXY_SECRET, enter_room
from tests.factories import at, make_appointment, make_patient

pytestmark = pytest.mark.django_db

OFFER = {"type": "offer", "sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n"}


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _url(visit, name, session_id=None):
    kwargs = {"room_id": visit.room_id}
    if session_id:
        kwargs["session_id"] = session_id
    return reverse(f"rooms-api:{name}", kwargs=kwargs)


@pytest.fixture
def visit():
    return make_appointment(start=at(minutes=5), status="confirmed")


def _new_session(client, visit, calls, session_id):
    calls.then(201, {"sessionId": session_id})
    response = client.post(_url(visit, "calls-session-new"), {}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["sessionId"]


def _push(client, visit, calls, session_id, track="cam"):
    calls.then(
        200,
        {
            "requiresImmediateRenegotiation": False,
            "sessionDescription": {"type": "answer", "sdp": "v=0"},
            "tracks": [{"trackName": track, "mid": "0"}],
        },
    )
    body = {
        "sessionDescription": OFFER,
        "tracks": [{"location": "local", "mid": "0", "trackName": track}],
    }
    response = client.post(_url(visit, "calls-tracks-new", session_id), body, format="json")
    assert response.status_code == 200, response.content
    return response


def test_admitted_participants_push_and_pull_within_their_room(visit, calls_on):
    enter_room(visit, visit.doctor.user)
    enter_room(visit, visit.patient.user)
    doctor, patient = _api(visit.doctor.user), _api(visit.patient.user)
    doctor_session = _new_session(doctor, visit, calls_on, "sess-doctor")
    _push(doctor, visit, calls_on, doctor_session)

    # The push is announced in the doctor's room entry, so the patient can pull it.
    entry = async_to_sync(get_room_state_store().get)(visit.room_id.hex, f"p{visit.doctor.user_id}")
    assert (entry.session_id, entry.tracks) == ("sess-doctor", [{"name": "cam", "kind": "video"}])

    patient_session = _new_session(patient, visit, calls_on, "sess-patient")
    calls_on.then(
        200,
        {
            "requiresImmediateRenegotiation": True,
            "sessionDescription": {"type": "offer", "sdp": "v=0"},
            "tracks": [{"trackName": "cam", "mid": "1", "sessionId": "sess-doctor"}],
        },
    )
    pull = {"tracks": [{"location": "remote", "sessionId": "sess-doctor", "trackName": "cam"}]}
    response = patient.post(_url(visit, "calls-tracks-new", patient_session), pull, format="json")
    assert response.status_code == 200 and response.json()["requiresImmediateRenegotiation"]
    sent = calls_on.requests[-1]
    assert sent["path"] == "/v1/apps/app1/sessions/sess-patient/tracks/new"
    assert sent["body"] == pull and sent["authorization"] == f"Bearer {PROXY_SECRET}"


def test_nobody_drives_another_participants_session(visit, calls_on):
    enter_room(visit, visit.doctor.user)
    enter_room(visit, visit.patient.user)
    doctor_session = _new_session(_api(visit.doctor.user), visit, calls_on, "sess-doctor")
    patient = _api(visit.patient.user)
    before = len(calls_on.requests)
    answer = {"sessionDescription": {"type": "answer", "sdp": "v=0"}}
    attempts = [
        patient.post(
            _url(visit, "calls-tracks-new", doctor_session),
            {"tracks": [{"location": "local", "trackName": "x"}]},
            format="json",
        ),
        patient.put(_url(visit, "calls-renegotiate", doctor_session), answer, format="json"),
        patient.put(
            _url(visit, "calls-tracks-close", doctor_session),
            {"tracks": [{"mid": "0"}]},
            format="json",
        ),
        patient.put(
            _url(visit, "calls-tracks-update", doctor_session),
            {"tracks": [{"mid": "0"}]},
            format="json",
        ),
        patient.get(_url(visit, "calls-session", doctor_session)),
    ]
    assert [r.status_code for r in attempts] == [404] * 5
    assert all("detail" in r.json() for r in attempts)
    assert len(calls_on.requests) == before


def test_tracks_from_outside_the_room_cannot_be_pulled(visit, calls_on):
    other_visit = make_appointment(start=at(minutes=5), status="confirmed")
    enter_room(other_visit, other_visit.doctor.user)
    outsider = _api(other_visit.doctor.user)
    outside_session = _new_session(outsider, other_visit, calls_on, "sess-outside")
    _push(outsider, other_visit, calls_on, outside_session, track="secret-cam")

    enter_room(visit, visit.patient.user)
    patient = _api(visit.patient.user)
    patient_session = _new_session(patient, visit, calls_on, "sess-patient")
    before = len(calls_on.requests)
    for track in (
        {"location": "remote", "sessionId": "sess-outside", "trackName": "secret-cam"},
        {"location": "remote", "sessionId": "sess-patient", "trackName": "never-published"},
    ):
        response = patient.post(
            _url(visit, "calls-tracks-new", patient_session), {"tracks": [track]}, format="json"
        )
        assert response.status_code == 403, response.content
        assert "not published" in response.json()["detail"]
    assert len(calls_on.requests) == before


def test_waiting_patients_and_strangers_cannot_create_sessions(visit, calls_on):
    enter_room(visit, visit.patient.user, status="waiting")
    waiting = _api(visit.patient.user).post(_url(visit, "calls-session-new"), {}, format="json")
    assert waiting.status_code == 403 and "Wait until the doctor" in waiting.json()["detail"]
    not_joined = _api(visit.doctor.user).post(_url(visit, "calls-session-new"), {}, format="json")
    assert not_joined.status_code == 403
    stranger = _api(make_patient().user).post(_url(visit, "calls-session-new"), {}, format="json")
    assert stranger.status_code == 404
    anonymous = APIClient().post(_url(visit, "calls-session-new"), {}, format="json")
    assert anonymous.status_code == 401
    assert calls_on.requests == []


def test_bad_bodies_are_refused_before_calls(visit, calls_on):
    enter_room(visit, visit.doctor.user)
    doctor = _api(visit.doctor.user)
    session = _new_session(doctor, visit, calls_on, "sess-doctor")
    before = len(calls_on.requests)
    for body in (
        {"tracks": []},
        {"tracks": [{"location": "remote", "trackName": "no-session"}]},
        {"tracks": [{"location": "sideways", "trackName": "x"}]},
        {"sessionDescription": {"type": "pranswer", "sdp": "v=0"}, "tracks": [{"mid": "0"}]},
        {"tracks": [{"location": "local", "trackName": "x"}] * 65},
    ):
        response = doctor.post(_url(visit, "calls-tracks-new", session), body, format="json")
        assert response.status_code == 400, body
    assert len(calls_on.requests) == before


def test_calls_failures_map_to_clear_errors_and_never_leak_the_secret(visit, calls_on):
    enter_room(visit, visit.doctor.user)
    doctor = _api(visit.doctor.user)
    calls_on.then(401, {"errorCode": "unauthorized", "errorDescription": "bad secret"})
    misconfigured = doctor.post(_url(visit, "calls-session-new"), {}, format="json")
    assert misconfigured.status_code == 503
    assert "misconfigured" in misconfigured.json()["detail"]
    calls_on.then(400, {"errorCode": "invalid_sdp", "errorDescription": "bad sdp"})
    refused = doctor.post(
        _url(visit, "calls-session-new"), {"sessionDescription": OFFER}, format="json"
    )
    assert refused.status_code == 400 and "bad sdp" in refused.json()["detail"]
    for response in (misconfigured, refused):
        assert PROXY_SECRET not in response.content.decode()


def test_ice_servers_for_the_rooms_participants(visit, settings):
    settings.ICE_SERVERS = ["stun:stun.example.org:3478"]
    response = _api(visit.patient.user).get(_url(visit, "ice-servers"))
    assert response.json() == {"iceServers": [{"urls": ["stun:stun.example.org:3478"]}]}
    assert _api(make_patient().user).get(_url(visit, "ice-servers")).status_code == 404


def test_turn_credentials_are_fetched_server_side_and_cached(visit, settings, scripted_calls):
    settings.CALLS_API_URL = scripted_calls.base_url
    settings.TURN_KEY_ID, settings.TURN_KEY_API_TOKEN = "key1", "turn-token"
    turn = {
        "iceServers": [{"urls": ["turn:turn.example:3478"], "username": "u", "credential": "c"}]
    }
    scripted_calls.then(201, turn)
    client = _api(visit.patient.user)
    first = client.get(_url(visit, "ice-servers")).json()
    second = client.get(_url(visit, "ice-servers")).json()
    assert first == second == turn
    (request,) = scripted_calls.requests  # the second answer came from the cache
    assert request["path"] == "/v1/turn/keys/key1/credentials/generate-ice-servers"
    assert request["authorization"] == "Bearer turn-token"
    assert request["body"] == {"ttl": settings.TURN_CREDENTIAL_TTL_SECONDS}


# --- Quota and track objects (issue 10, item 12) -----------------------------------------------


def test_a_participant_holds_at_most_the_cap_of_sessions(visit, calls_on, settings):
    settings.CALLS_MAX_SESSIONS_PER_PARTICIPANT = 4
    enter_room(visit, visit.patient.user)
    patient = _api(visit.patient.user)
    for number in range(4):
        _new_session(patient, visit, calls_on, f"sess-{number}")
    before = len(calls_on.requests)
    refused = patient.post(_url(visit, "calls-session-new"), {}, format="json")
    assert refused.status_code == 429, refused.content
    assert "the most allowed" in refused.json()["detail"]
    assert len(calls_on.requests) == before  # refused before Calls
    # The doctor's own quota is untouched by the patient's.
    enter_room(visit, visit.doctor.user)
    _new_session(_api(visit.doctor.user), visit, calls_on, "sess-doctor")


def test_a_reloaded_page_gets_sessions_in_place_of_those_its_earlier_page_left(
    visit, calls_on, settings
):
    settings.CALLS_MAX_SESSIONS_PER_PARTICIPANT = 4
    enter_room(visit, visit.patient.user)
    patient = _api(visit.patient.user)
    for number in range(4):
        _new_session(patient, visit, calls_on, f"old-{number}")
    # The page reloads: a new connection (room entry) of the same person.
    reloaded = Participant(
        participant_id="p-reloaded",
        user_id=visit.patient.user_id,
        display_name="Patient",
        role="patient",
        status="admitted",
        channel_name="test.reloaded",
    )
    async_to_sync(get_room_state_store().add)(visit.room_id.hex, reloaded, 0.0)
    # Every answer from now on (the new session's, and the closings' of the old ones, which run
    # meanwhile) names the new session and no tracks.
    calls_on.default = (201, {"sessionId": "new-0"}, 0.0)
    response = patient.post(_url(visit, "calls-session-new"), {}, format="json")
    assert response.status_code == 201, response.content
    assert calls_sessions.wait_until_closed(10)
    held = async_to_sync(get_room_state_store().calls_sessions)(visit.room_id.hex)
    assert held == {"new-0": (visit.patient.user_id, "p-reloaded")}
    # The left-behind sessions were closed at Calls (asked for their state, to close each).
    asked = {r["path"] for r in calls_on.requests if r["method"] == "GET"}
    assert asked == {f"/v1/apps/app1/sessions/old-{number}" for number in range(4)}
    gone = patient.get(_url(visit, "calls-session", "old-0"))
    assert gone.status_code == 404


TRACK_OBJECTS = [
    # (endpoint, track object, status): nothing of these may reach Calls.
    # No location, naming someone else's session: was forwarded unchecked.
    ("calls-tracks-new", {"sessionId": "sess-doctor", "trackName": "cam"}, 400),
    ("calls-tracks-new", {"sessionId": "sess-outside", "trackName": "secret-cam"}, 400),
    ("calls-tracks-new", {"trackName": "cam"}, 400),
    # A local track names no session (it would be published into another's session).
    ("calls-tracks-new", {"location": "local", "sessionId": "sess-doctor", "trackName": "x"}, 400),
    (
        "calls-tracks-new",
        {"location": "remote", "sessionId": "sess-outside", "trackName": "secret-cam"},
        403,
    ),
    (
        "calls-tracks-new",
        {"location": "remote", "sessionId": "sess-doctor", "trackName": "nope"},
        403,
    ),
    # tracks/update switches a transceiver to another remote track, and only that.
    (
        "calls-tracks-update",
        {"mid": "0", "sessionId": "sess-outside", "trackName": "secret-cam"},
        403,
    ),
    (
        "calls-tracks-update",
        {"mid": "0", "location": "remote", "sessionId": "sess-outside", "trackName": "secret-cam"},
        403,
    ),
    ("calls-tracks-update", {"mid": "0", "location": "local", "trackName": "cam"}, 400),
    ("calls-tracks-update", {"mid": "0", "trackName": "secret-cam"}, 400),
    ("calls-tracks-update", {"mid": "0", "sessionId": "sess-doctor"}, 400),
    ("calls-tracks-update", {"sessionId": "sess-doctor", "trackName": "cam"}, 400),
]


@pytest.mark.parametrize(("endpoint", "track", "status"), TRACK_OBJECTS)
def test_every_track_object_is_checked_before_calls(visit, calls_on, endpoint, track, status):
    other_visit = make_appointment(start=at(minutes=5), status="confirmed")
    enter_room(other_visit, other_visit.doctor.user)
    outsider = _api(other_visit.doctor.user)
    _push(
        outsider,
        other_visit,
        calls_on,
        _new_session(outsider, other_visit, calls_on, "sess-outside"),
        track="secret-cam",
    )
    enter_room(visit, visit.doctor.user)
    enter_room(visit, visit.patient.user)
    doctor = _api(visit.doctor.user)
    _push(doctor, visit, calls_on, _new_session(doctor, visit, calls_on, "sess-doctor"))
    patient = _api(visit.patient.user)
    patient_session = _new_session(patient, visit, calls_on, "sess-patient")
    before = len(calls_on.requests)
    send = patient.post if endpoint == "calls-tracks-new" else patient.put
    response = send(_url(visit, endpoint, patient_session), {"tracks": [track]}, format="json")
    assert response.status_code == status, response.content
    assert response.json()
    assert len(calls_on.requests) == before


@pytest.mark.parametrize(
    ("endpoint", "track"),
    [
        (
            "calls-tracks-new",
            {"location": "remote", "sessionId": "sess-doctor", "trackName": "cam"},
        ),
        ("calls-tracks-update", {"mid": "1", "sessionId": "sess-doctor", "trackName": "cam"}),
        ("calls-tracks-update", {"mid": "1", "simulcast": {"preferredRid": "h"}}),
    ],
)
def test_track_objects_that_pull_from_the_room_are_forwarded(visit, calls_on, endpoint, track):
    enter_room(visit, visit.doctor.user)
    enter_room(visit, visit.patient.user)
    doctor = _api(visit.doctor.user)
    _push(doctor, visit, calls_on, _new_session(doctor, visit, calls_on, "sess-doctor"))
    patient = _api(visit.patient.user)
    patient_session = _new_session(patient, visit, calls_on, "sess-patient")
    calls_on.then(200, {"requiresImmediateRenegotiation": False, "tracks": [{"mid": "1"}]})
    send = patient.post if endpoint == "calls-tracks-new" else patient.put
    response = send(_url(visit, endpoint, patient_session), {"tracks": [track]}, format="json")
    assert response.status_code == 200, response.content
    assert calls_on.requests[-1]["body"] == {"tracks": [track]}
