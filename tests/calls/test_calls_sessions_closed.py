"""When the room is done with someone (removed, denied, the visit ended, gone after a leave),
their Calls sessions close at Calls and the proxy refuses them.

The first test runs over real HTTP against the local SFU with aiortc endpoints standing in for
the doctor's and the patient's browsers; the others use the scripted stand-in, which records
what reached "Calls".
"""

import asyncio
import logging
import time

import pytest
from aiortc import RTCSessionDescription
from django.urls import reverse
from rest_framework.test import APIClient

from rooms import services
from rooms.calls import sessions as calls_sessions
from rooms.selectors import RoomAccess
from rooms.state import ADMITTED, WAITING, Participant, get_room_state_store
from standins.calls_sfu.server import start_in_thread
from tests.factories import at, make_appointment
from tests.standins.calls_sfu.sfu_testkit import (
    APP_ID,
    APP_SECRET,
    WAIT,
    CallsApi,
    Camera,
    call,
    frames,
    new_peer,
    sendonly_offer,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def sfu():
    server = start_in_thread(app_id=APP_ID, app_secret=APP_SECRET)
    yield server
    server.stop()


@pytest.fixture
def visit():
    return make_appointment(start=at(minutes=5), status="confirmed")


def _access(visit, user) -> RoomAccess:
    role = "doctor" if user.id == visit.doctor.user_id else "patient"
    return RoomAccess(
        user_id=user.id,
        display_name=user.display_name,
        role=role,
        appointment_id=visit.pk,
        room=visit.room_id.hex,
        closes_at=time.time() + 3600,
    )


async def _enter(visit, user, *, status=ADMITTED, pid=None, seen=None) -> Participant:
    access = _access(visit, user)
    participant = Participant(
        participant_id=pid or f"p{user.id}",
        user_id=user.id,
        display_name=user.display_name,
        role=access.role,
        status=status,
        channel_name=f"test.{user.id}",
    )
    await get_room_state_store().add(
        access.room, participant, time.time() if seen is None else seen
    )
    return participant


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _url(visit, name, session_id=None):
    kwargs = {"room_id": visit.room_id}
    if session_id:
        kwargs["session_id"] = session_id
    return reverse(f"rooms-api:{name}", kwargs=kwargs)


async def _proxy(client, method, visit, name, session_id=None, body=None):
    """One proxy request, off the event loop (the endpoints' ICE and media keep running)."""
    send = getattr(client, method)
    url = _url(visit, name, session_id)
    if body is None:
        return await call(send, url)
    return await call(send, url, body, format="json")


async def _session(client, visit) -> str:
    response = await _proxy(client, "post", visit, "calls-session-new", body={})
    assert response.status_code == 201, response.content
    return response.json()["sessionId"]


async def _closings_done() -> None:
    assert await asyncio.to_thread(calls_sessions.wait_until_closed, WAIT)


@pytest.fixture
def calls_on_sfu(settings, sfu):
    settings.CALLS_APP_ID, settings.CALLS_APP_SECRET = APP_ID, APP_SECRET
    settings.CALLS_API_URL = sfu.base_url
    return CallsApi(sfu.base_url, APP_ID, APP_SECRET)


@pytest.mark.asyncio
async def test_a_removed_patient_stops_receiving_the_doctors_video(visit, sfu, calls_on_sfu):
    sfu_api = calls_on_sfu
    await _enter(visit, visit.doctor.user)
    await _enter(visit, visit.patient.user)
    doctor, patient = _api(visit.doctor.user), _api(visit.patient.user)

    # The doctor publishes a camera through the proxy.
    doctor_pc, offer, (doctor_mid,) = await sendonly_offer(Camera())
    doctor_session = await _session(doctor, visit)
    push = {
        "sessionDescription": offer,
        "tracks": [{"location": "local", "mid": doctor_mid, "trackName": "doctor-video"}],
    }
    pushed = await _proxy(doctor, "post", visit, "calls-tracks-new", doctor_session, push)
    assert pushed.status_code == 200, pushed.content
    await doctor_pc.setRemoteDescription(
        RTCSessionDescription(**pushed.json()["sessionDescription"])
    )

    # The patient pulls it through the proxy, and holds a second session besides.
    patient_pc = new_peer()
    patient_session = await _session(patient, visit)
    spare_session = await _session(patient, visit)
    pull = {
        "tracks": [{"location": "remote", "sessionId": doctor_session, "trackName": "doctor-video"}]
    }
    pulled = await _proxy(patient, "post", visit, "calls-tracks-new", patient_session, pull)
    assert pulled.status_code == 200, pulled.content
    (track,) = pulled.json()["tracks"]
    await patient_pc.setRemoteDescription(
        RTCSessionDescription(**pulled.json()["sessionDescription"])
    )
    await patient_pc.setLocalDescription(await patient_pc.createAnswer())
    answer = {"sessionDescription": {"type": "answer", "sdp": patient_pc.localDescription.sdp}}
    renegotiated = await _proxy(patient, "put", visit, "calls-renegotiate", patient_session, answer)
    assert renegotiated.status_code == 200, renegotiated.content
    receiver = next(t for t in patient_pc.getTransceivers() if t.mid == track["mid"]).receiver
    await frames(receiver.track, 3)  # the doctor's video plays at the patient's

    def subscribers() -> int:
        (local,) = sfu.server.sfu.sessions[doctor_session].tracks
        return len(local.subscribers)

    assert sfu.call(subscribers) == 1
    try:
        await services.remove(
            _access(visit, visit.doctor.user),
            f"p{visit.doctor.user_id}",
            f"p{visit.patient.user_id}",
        )
        await _closings_done()

        # At the SFU: the patient's pull is closed, nobody plays the doctor's track any more,
        # and the doctor's own track goes on.
        assert await call(sfu_api.statuses, patient_session) == {track["mid"]: "inactive"}
        assert sfu.call(subscribers) == 0
        assert await call(sfu_api.statuses, doctor_session) == {doctor_mid: "active"}

        # At the proxy: refused while out of the room, and the old sessions stay refused
        # even once the patient is back and admitted.
        gone = await _proxy(patient, "get", visit, "calls-session", patient_session)
        assert gone.status_code == 403
        await _enter(visit, visit.patient.user, pid="p-back")
        for session_id in (patient_session, spare_session):
            again = await _proxy(patient, "get", visit, "calls-session", session_id)
            assert again.status_code == 404, again.content
        repull = await _proxy(patient, "post", visit, "calls-tracks-new", patient_session, pull)
        assert repull.status_code == 404
        held = await get_room_state_store().calls_sessions(visit.room_id.hex)
        assert set(held) == {doctor_session}
    finally:
        await doctor_pc.close()
        await patient_pc.close()


# --- The other ways out, against the scripted stand-in -------------------------------------


SESSION_STATE = {
    "tracks": [
        {"location": "local", "mid": "0", "trackName": "cam", "status": "active"},
        {"location": "remote", "mid": "1", "sessionId": "d", "trackName": "x", "status": "active"},
        {
            "location": "remote",
            "mid": "2",
            "sessionId": "d",
            "trackName": "y",
            "status": "inactive",
        },
    ],
    "dataChannels": [],
}
CLOSED = {"requiresImmediateRenegotiation": False, "tracks": [{"mid": "0"}, {"mid": "1"}]}


@pytest.fixture
def calls_scripted(settings, scripted_calls):
    settings.CALLS_APP_ID, settings.CALLS_APP_SECRET = "app1", "secret"
    settings.CALLS_API_URL = scripted_calls.base_url
    return scripted_calls


async def _hold(visit, user, *session_ids) -> None:
    for session_id in session_ids:
        added = await get_room_state_store().calls_session_add_capped(
            visit.room_id.hex, session_id, user.id, f"p{user.id}", 4
        )
        assert added


def _closes(requests) -> list[tuple[str, str, object]]:
    return [(r["method"], r["path"], r["body"]) for r in requests]


@pytest.mark.asyncio
async def test_each_session_is_closed_by_force_closing_its_active_tracks(visit, calls_scripted):
    await _enter(visit, visit.doctor.user)
    await _enter(visit, visit.patient.user)
    await _hold(visit, visit.patient.user, "sess-p")
    calls_scripted.then(200, SESSION_STATE).then(200, CLOSED)
    doctor = _access(visit, visit.doctor.user)
    await services.remove(doctor, f"p{visit.doctor.user_id}", f"p{visit.patient.user_id}")
    await _closings_done()
    assert _closes(calls_scripted.requests) == [
        ("GET", "/v1/apps/app1/sessions/sess-p", None),
        (
            "PUT",
            "/v1/apps/app1/sessions/sess-p/tracks/close",
            {"tracks": [{"mid": "0"}, {"mid": "1"}], "force": True},
        ),
    ]


@pytest.mark.asyncio
async def test_deny_and_end_close_sessions_too(visit, calls_scripted):
    doctor = _access(visit, visit.doctor.user)
    await _enter(visit, visit.doctor.user)
    await _enter(visit, visit.patient.user, status=WAITING)
    await _hold(visit, visit.patient.user, "sess-old")  # left from an earlier admission
    await _hold(visit, visit.doctor.user, "sess-d1", "sess-d2")
    await services.deny(doctor, f"p{visit.doctor.user_id}", f"p{visit.patient.user_id}")
    await _closings_done()
    assert [r["path"] for r in calls_scripted.requests] == ["/v1/apps/app1/sessions/sess-old"]

    await services.end(doctor, f"p{visit.doctor.user_id}")
    await _closings_done()
    closed = {r["path"].rsplit("/", 1)[-1] for r in calls_scripted.requests[1:]}
    assert closed == {"sess-d1", "sess-d2"}
    assert await get_room_state_store().calls_sessions(visit.room_id.hex) == {}


@pytest.mark.asyncio
async def test_a_leave_closes_sessions_only_when_nobody_comes_back(visit, calls_scripted, settings):
    settings.ROOM_SILENCE_TIMEOUT_SECONDS = 0.2
    patient = _access(visit, visit.patient.user)
    room = visit.room_id.hex

    # A reload: back within the grace, the sessions live on.
    await _enter(visit, visit.patient.user)
    await _hold(visit, visit.patient.user, "sess-reloaded")
    await services.leave(patient, f"p{visit.patient.user_id}", "test.channel")
    await _enter(visit, visit.patient.user, pid="p-reloaded")
    await asyncio.gather(*services._background)
    assert set(await get_room_state_store().calls_sessions(room)) == {"sess-reloaded"}

    # Gone for good: after the grace, closed.
    await services.leave(patient, "p-reloaded", "test.channel")
    await asyncio.gather(*services._background)
    await _closings_done()
    assert await get_room_state_store().calls_sessions(room) == {}
    assert [r["path"] for r in calls_scripted.requests] == ["/v1/apps/app1/sessions/sess-reloaded"]


@pytest.mark.asyncio
async def test_a_silent_participant_dropped_loses_their_sessions(visit, calls_scripted):
    await _enter(visit, visit.doctor.user)
    await _enter(visit, visit.patient.user, seen=0.0)  # a crashed browser
    await _hold(visit, visit.patient.user, "sess-silent")
    await _hold(visit, visit.doctor.user, "sess-doctor")
    assert await services.drop_silent(_access(visit, visit.doctor.user)) == 1
    await _closings_done()
    assert set(await get_room_state_store().calls_sessions(visit.room_id.hex)) == {"sess-doctor"}
    assert [r["path"] for r in calls_scripted.requests] == ["/v1/apps/app1/sessions/sess-silent"]


@pytest.mark.asyncio
async def test_a_failing_calls_never_breaks_remove(visit, calls_scripted, caplog):
    await _enter(visit, visit.doctor.user)
    await _enter(visit, visit.patient.user)
    await _hold(visit, visit.patient.user, "sess-p")
    calls_scripted.then(400, {"errorCode": "session_error", "errorDescription": "gone"})
    with caplog.at_level(logging.WARNING, logger="rooms.calls.sessions"):
        await services.remove(
            _access(visit, visit.doctor.user),
            f"p{visit.doctor.user_id}",
            f"p{visit.patient.user_id}",
        )
        await _closings_done()
    assert await get_room_state_store().get(visit.room_id.hex, f"p{visit.patient.user_id}") is None
    assert await get_room_state_store().calls_sessions(visit.room_id.hex) == {}
    assert "sess-p not closed" in caplog.text
