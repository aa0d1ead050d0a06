"""Consent to record, through the room's socket: the frames, the `recording` object every
room.state carries, and the room's comings and goings (docs/protocol.md, "Recording")."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from rooms import services
from rooms.recordings.models import Recording, RecordingConsent
from tests.consumers.conftest import connect, frames_until, roles

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("recordings_store"),  # a recordings key, as a server that records
]

recordings_of = sync_to_async(lambda visit: list(Recording.objects.filter(appointment=visit)))
decisions_of = sync_to_async(
    lambda visit: list(
        RecordingConsent.objects.filter(recording__appointment=visit)
        .order_by("at", "pk")
        .values_list("user_id", "decision")
    )
)


def recording_is(state: str, **fields):
    """A room.state whose recording is in `state` (and has these fields)."""

    def matches(frame: dict) -> bool:
        recording = frame["recording"]
        return recording["state"] == state and all(recording[k] == v for k, v in fields.items())

    return matches


def ended_with(reason: str):
    return lambda frame: (frame["recording"]["ended"] or {}).get("reason") == reason


async def until_recording(socket, state: str, **fields) -> dict:
    return (await frames_until(socket, "room.state", where=recording_is(state, **fields)))[
        "recording"
    ]


async def _doctor_alone(visit):
    doctor = await connect(visit.doctor.user, visit.room_id)
    await frames_until(doctor, "room.state")
    return doctor


async def test_a_server_that_cannot_record_says_so_and_keeps_the_socket(visit, settings):
    settings.RECORDINGS_KEY = ""
    doctor = await _doctor_alone(visit)
    await doctor.send_json_to({"type": "recording.request"})
    refused = await frames_until(doctor, "error")
    assert refused["code"] == "unavailable"
    assert "RECORDINGS_KEY" in refused["message"]
    await doctor.send_json_to({"type": "ping"})
    await frames_until(doctor, "pong")
    assert not await sync_to_async(Recording.objects.exists)()
    await doctor.disconnect()


async def _admit(doctor, patient) -> dict:
    """Let the patient in; their first room.state as admitted."""
    waiting = await frames_until(patient, "room.state")
    await doctor.send_json_to({"type": "admit", "participant_id": waiting["you"]["participant_id"]})
    return await frames_until(
        patient, "room.state", where=lambda s: s["you"]["status"] == "admitted"
    )


async def _admitted_pair(visit):
    doctor = await _doctor_alone(visit)
    patient = await connect(visit.patient.user, visit.room_id)
    await _admit(doctor, patient)
    return doctor, patient


async def _recording_on(visit):
    """Both in the call, the doctor asked, the patient allowed."""
    doctor, patient = await _admitted_pair(visit)
    await doctor.send_json_to({"type": "recording.request"})
    asked = await until_recording(patient, "pending")
    await patient.send_json_to(
        {"type": "recording.consent", "recording_id": asked["id"], "decision": "allow"}
    )
    await until_recording(doctor, "on")
    await until_recording(patient, "on")
    return doctor, patient, asked["id"]


async def _still_open(socket) -> None:
    await socket.send_json_to({"type": "ping"})
    assert (await frames_until(socket, "pong")) == {"type": "pong"}


async def test_every_room_state_says_nothing_is_recorded_at_first(visit):
    doctor = await _doctor_alone(visit)
    await doctor.send_json_to({"type": "media", "audio": True})
    state = await frames_until(doctor, "room.state")
    assert state["recording"] == {
        "state": "off",
        "id": None,
        "requested_by": None,
        "allowed": [],
        "waiting_for": [],
        "seconds": 0.0,
        "ended": None,
    }
    await doctor.disconnect()


@pytest.mark.parametrize(("frame_type", "reason"), [("withdraw", "withdrawn"), ("stop", "stopped")])
async def test_asked_allowed_on_for_both_then_ended_by_the_patient(visit, frame_type, reason):
    doctor, patient = await _admitted_pair(visit)
    doctor_id, patient_id = visit.doctor.user_id, visit.patient.user_id
    await doctor.send_json_to({"type": "recording.request"})

    asked = await until_recording(patient, "pending")
    assert asked["waiting_for"] == [patient_id] and asked["allowed"] == [doctor_id]
    doctor_named = {"user_id": doctor_id, "display_name": visit.doctor.display_name}
    assert asked["requested_by"] == doctor_named
    assert (await until_recording(doctor, "pending"))["waiting_for"] == [patient_id]

    await patient.send_json_to(
        {"type": "recording.consent", "recording_id": asked["id"], "decision": "allow"}
    )
    for socket in (doctor, patient):
        on = await until_recording(socket, "on", id=asked["id"])
        assert on["waiting_for"] == [] and on["allowed"] == sorted([doctor_id, patient_id])

    if frame_type == "withdraw":
        frame = {"type": "recording.consent", "recording_id": asked["id"], "decision": "withdraw"}
    else:
        frame = {"type": "recording.stop", "recording_id": asked["id"]}
    await patient.send_json_to(frame)
    for socket in (doctor, patient):
        off = await until_recording(socket, "off")
        assert off["id"] is None
        assert off["ended"] == {
            "recording_id": asked["id"],
            "reason": reason,
            "by": {"user_id": patient_id, "display_name": visit.patient.full_name},
        }
    [recording] = await recordings_of(visit)
    assert recording.started_at is not None and recording.ended_at is not None
    expected = [(doctor_id, "allowed"), (patient_id, "allowed")]
    if frame_type == "withdraw":
        expected.append((patient_id, "withdrawn"))
    assert await decisions_of(visit) == expected
    await doctor.disconnect()
    await patient.disconnect()


async def test_a_decline_is_shown_to_the_doctor_and_nothing_is_recorded(visit):
    doctor, patient = await _admitted_pair(visit)
    await doctor.send_json_to({"type": "recording.request"})
    asked = await until_recording(patient, "pending")
    await patient.send_json_to(
        {"type": "recording.consent", "recording_id": asked["id"], "decision": "decline"}
    )
    off = (await frames_until(doctor, "room.state", where=ended_with("declined")))["recording"]
    assert off["state"] == "off"
    assert off["ended"]["by"]["display_name"] == visit.patient.full_name
    [recording] = await recordings_of(visit)
    assert recording.status == Recording.Status.DECLINED and recording.started_at is None
    await doctor.disconnect()
    await patient.disconnect()


async def test_a_waiting_patient_may_send_no_recording_frame_and_stays_connected(visit):
    doctor = await _doctor_alone(visit)
    await doctor.send_json_to({"type": "recording.request"})
    on = await until_recording(doctor, "on")  # nobody else admitted: on at once
    patient = await connect(visit.patient.user, visit.room_id)
    waiting = await frames_until(patient, "room.state")
    assert waiting["you"]["status"] == "waiting"
    # A waiting patient sees that the visit is being recorded (entering will pause it).
    assert waiting["recording"]["state"] == "on"
    for frame in (
        {"type": "recording.request"},
        {"type": "recording.consent", "recording_id": on["id"], "decision": "allow"},
        {"type": "recording.consent", "recording_id": on["id"], "decision": "withdraw"},
        {"type": "recording.stop", "recording_id": on["id"]},
    ):
        await patient.send_json_to(frame)
        error = await frames_until(patient, "error")
        assert error["code"] == "forbidden" and error["message"]
        await _still_open(patient)
    assert await decisions_of(visit) == [(visit.doctor.user_id, "allowed")]
    [recording] = await recordings_of(visit)
    assert recording.ended_at is None and recording.resumed_at is not None
    await doctor.disconnect()
    await patient.disconnect()


async def test_someone_admitted_while_on_pauses_it_until_they_allow(visit):
    doctor = await _doctor_alone(visit)
    await doctor.send_json_to({"type": "recording.request"})
    on = await until_recording(doctor, "on")
    patient = await connect(visit.patient.user, visit.room_id)
    paused = (await _admit(doctor, patient))["recording"]
    assert paused["state"] == "paused"
    assert paused["id"] == on["id"] and paused["waiting_for"] == [visit.patient.user_id]
    assert (await until_recording(doctor, "paused"))["waiting_for"] == [visit.patient.user_id]
    await patient.send_json_to(
        {"type": "recording.consent", "recording_id": on["id"], "decision": "allow"}
    )
    assert (await until_recording(doctor, "on"))["id"] == on["id"]
    await doctor.disconnect()
    await patient.disconnect()


async def test_someone_let_in_while_the_request_was_made_is_asked_not_recorded(visit, monkeypatch):
    """The request read who is admitted before the patient was let in (on another process, say)
    and committed after: the room settles it against a fresh read before telling anyone."""
    doctor, patient = await _admitted_pair(visit)
    fresh = services._admitted_now
    reads = []

    async def stale_first(access):
        reads.append(access)
        return {visit.doctor.user_id} if len(reads) == 1 else await fresh(access)

    monkeypatch.setattr(services, "_admitted_now", stale_first)
    await doctor.send_json_to({"type": "recording.request"})
    state = await frames_until(patient, "room.state", where=lambda s: s["recording"]["id"])
    assert state["recording"]["state"] == "paused"
    assert state["recording"]["waiting_for"] == [visit.patient.user_id]
    [recording] = await recordings_of(visit)
    assert recording.resumed_at is None
    await doctor.disconnect()
    await patient.disconnect()


async def test_coming_back_to_a_recording_never_allowed_pauses_it(visit):
    """Admitted earlier, away when it was asked for: back in the call (no wait: admission is
    remembered), they are new to this recording."""
    doctor, patient = await _admitted_pair(visit)
    await patient.disconnect()
    await frames_until(doctor, "room.state", where=lambda s: roles(s) == ["doctor"])
    await doctor.send_json_to({"type": "recording.request"})
    on = await until_recording(doctor, "on")
    back = await connect(visit.patient.user, visit.room_id)
    state = await frames_until(back, "room.state")
    assert state["you"]["status"] == "admitted"
    assert state["recording"]["state"] == "paused" and state["recording"]["id"] == on["id"]
    assert state["recording"]["waiting_for"] == [visit.patient.user_id]
    await doctor.disconnect()
    await back.disconnect()


async def test_a_reconnect_of_someone_who_allowed_does_not_pause_it(visit):
    doctor, patient, recording_id = await _recording_on(visit)
    await patient.disconnect()
    again = await connect(visit.patient.user, visit.room_id)
    state = await frames_until(again, "room.state")
    assert state["you"]["status"] == "admitted"
    assert state["recording"]["state"] == "on" and state["recording"]["id"] == recording_id
    # The doctor's view settles with the patient back in it, still on.
    back = await frames_until(doctor, "room.state", where=lambda s: "patient" in roles(s))
    assert back["recording"]["state"] == "on"
    await doctor.disconnect()
    await again.disconnect()


async def _keep_talking(sockets, seconds: float) -> list[list[dict]]:
    """Ping from every socket for `seconds` (so none is dropped as silent); what each got."""
    got = [[] for _ in sockets]
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        for socket, frames in zip(sockets, got, strict=True):
            await socket.send_json_to({"type": "ping"})
            while not await socket.receive_nothing(timeout=0.1):
                frames.append(await socket.receive_json_from())
    return got


async def test_the_doctor_gone_past_the_grace_stops_it_and_a_quick_return_does_not(visit, settings):
    settings.ROOM_SILENCE_TIMEOUT_SECONDS = 2  # the leave grace
    doctor, patient, _ = await _recording_on(visit)
    await doctor.disconnect()  # a reload: back within the grace
    doctor = await connect(visit.doctor.user, visit.room_id)
    await frames_until(doctor, "room.state")
    await _keep_talking([doctor, patient], 3)
    [recording] = await recordings_of(visit)
    assert recording.ended_at is None

    await doctor.disconnect()  # gone for good
    [got] = await _keep_talking([patient], 3.5)
    states = [frame for frame in got if frame["type"] == "room.state"]
    assert states[-1]["recording"]["state"] == "off"
    assert states[-1]["recording"]["ended"]["reason"] == "left"
    assert states[-1]["recording"]["ended"]["by"]["user_id"] == visit.doctor.user_id
    [recording] = await recordings_of(visit)
    assert recording.stop_reason == "left"
    await patient.disconnect()


async def test_the_grace_runs_from_the_latest_leave(visit, settings):
    # The leave grace, with seconds of margin either way: a loaded CI machine once took more
    # than the half second a 3 s grace left.
    settings.ROOM_SILENCE_TIMEOUT_SECONDS = 6
    doctor, patient, _ = await _recording_on(visit)
    await doctor.disconnect()
    doctor = await connect(visit.doctor.user, visit.room_id)
    await _keep_talking([doctor, patient], 3)
    await doctor.disconnect()  # 3 s after the first leave
    await _keep_talking([patient], 4)  # past the first leave's grace, within the second's
    [recording] = await recordings_of(visit)
    assert recording.ended_at is None
    [got] = await _keep_talking([patient], 4.5)
    assert got and ended_with("left")([f for f in got if f["type"] == "room.state"][-1])
    await patient.disconnect()


async def test_removing_the_one_it_waited_for_resumes_it(visit):
    doctor = await _doctor_alone(visit)
    await doctor.send_json_to({"type": "recording.request"})
    await until_recording(doctor, "on")
    patient = await connect(visit.patient.user, visit.room_id)
    admitted = await _admit(doctor, patient)
    await until_recording(doctor, "paused")
    await doctor.send_json_to(
        {"type": "remove", "participant_id": admitted["you"]["participant_id"]}
    )
    await frames_until(patient, "room.removed")
    state = await frames_until(doctor, "room.state", where=recording_is("on"))
    assert roles(state) == ["doctor"]
    await doctor.disconnect()


async def test_ending_the_visit_stops_it(visit):
    doctor, patient, _ = await _recording_on(visit)
    await doctor.send_json_to({"type": "end"})
    for socket in (doctor, patient):
        await frames_until(socket, "room.ended")
    [recording] = await recordings_of(visit)
    assert recording.ended_at is not None and recording.stop_reason == "visit_ended"
    assert recording.stopped_by_id == visit.doctor.user_id


async def test_refusals_by_the_rules_are_error_frames(visit):
    doctor, patient = await _admitted_pair(visit)
    await patient.send_json_to({"type": "recording.request"})
    assert (await frames_until(patient, "error"))["code"] == "forbidden"

    await doctor.send_json_to({"type": "recording.request"})
    asked = await until_recording(doctor, "pending")
    await doctor.send_json_to({"type": "recording.request"})
    assert (await frames_until(doctor, "error"))["code"] == "recording_live"

    unknown = "00000000-0000-4000-8000-000000000000"
    await patient.send_json_to({"type": "recording.stop", "recording_id": unknown})
    assert (await frames_until(patient, "error"))["code"] == "not_found"

    await patient.send_json_to(
        {"type": "recording.consent", "recording_id": asked["id"], "decision": "decline"}
    )
    await until_recording(patient, "off")
    await patient.send_json_to(
        {"type": "recording.consent", "recording_id": asked["id"], "decision": "allow"}
    )
    assert (await frames_until(patient, "error"))["code"] == "recording_over"
    await _still_open(patient)
    await _still_open(doctor)
    assert len(await recordings_of(visit)) == 1
    await doctor.disconnect()
    await patient.disconnect()


UUID = "6f1c2a4e-8b0d-4d7e-9a51-3c2b1e0f9d84"


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "recording.consent", "decision": "allow"}, "missing_field"),
        ({"type": "recording.consent", "recording_id": UUID}, "missing_field"),
        ({"type": "recording.consent", "recording_id": "x", "decision": "allow"}, "invalid_field"),
        ({"type": "recording.consent", "recording_id": 7, "decision": "allow"}, "invalid_field"),
        ({"type": "recording.consent", "recording_id": UUID, "decision": "yes"}, "invalid_field"),
        ({"type": "recording.consent", "recording_id": UUID, "decision": True}, "invalid_field"),
        (
            {"type": "recording.consent", "recording_id": UUID, "decision": ["allow"]},
            "invalid_field",
        ),
        ({"type": "recording.stop"}, "missing_field"),
        ({"type": "recording.stop", "recording_id": ""}, "invalid_field"),
        ({"type": "recording.stop", "recording_id": "a\u0000b"}, "invalid_field"),
        ({"type": "recording.stop", "recording_id": UUID + "0"}, "invalid_field"),
        ({"type": "recording.start"}, "unknown_type"),
    ],
)
async def test_malformed_recording_frames_get_an_error_and_the_socket_stays_open(
    visit, frame, code
):
    doctor = await _doctor_alone(visit)
    await doctor.send_to(text_data=json.dumps(frame))
    error = await frames_until(doctor, "error")
    assert error["code"] == code and error["message"]
    await _still_open(doctor)
    assert await recordings_of(visit) == []
    await doctor.disconnect()
