"""The room consumer driven by Channels' WebsocketCommunicator (as channels' own tests do)."""

import asyncio
import json
import time

import pytest
from asgiref.sync import sync_to_async

from rooms.models import ChatMessage
from rooms.state import Participant, get_room_state_store
from tests.consumers.conftest import connect, frames_before, frames_until, refresh, roles
from tests.factories import at, make_appointment, make_patient
from visits.models import AccessLogEntry

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def _doctor_and_waiting_patient(visit):
    doctor = await connect(visit.doctor.user, visit.room_id)
    doctor_state = await frames_until(doctor, "room.state")
    patient = await connect(visit.patient.user, visit.room_id)
    patient_state = await frames_until(patient, "room.state")
    return doctor, doctor_state, patient, patient_state


async def test_patient_waits_until_the_doctor_admits(visit):
    doctor, doctor_state, patient, waiting = await _doctor_and_waiting_patient(visit)
    assert doctor_state["you"]["role"] == "doctor" and doctor_state["you"]["status"] == "admitted"
    assert waiting["you"]["status"] == "waiting"
    # A waiting patient learns the doctor's name and nothing else.
    assert waiting["participants"] == [
        {"display_name": visit.doctor.display_name, "role": "doctor"}
    ]
    assert "chat" not in waiting

    told = await frames_until(doctor, "room.state", where=lambda s: "patient" in roles(s))
    waiting_entry = next(p for p in told["participants"] if p["role"] == "patient")
    assert waiting_entry["status"] == "waiting"
    await refresh(visit)
    assert visit.status == "checked_in"

    await doctor.send_json_to({"type": "admit", "participant_id": waiting_entry["participant_id"]})
    admitted = await frames_until(patient, "room.state")
    assert admitted["you"]["status"] == "admitted"
    assert admitted["chat"] == []
    assert {p["role"] for p in admitted["participants"]} == {"doctor", "patient"}
    await refresh(visit)
    assert visit.status == "in_progress"
    await doctor.disconnect()
    await patient.disconnect()


async def test_admission_is_remembered_across_reconnects(visit):
    doctor, _, patient, waiting = await _doctor_and_waiting_patient(visit)
    await doctor.send_json_to({"type": "admit", "participant_id": waiting["you"]["participant_id"]})
    await frames_until(patient, "room.state")
    await patient.disconnect()
    again = await connect(visit.patient.user, visit.room_id)
    state = await frames_until(again, "room.state")
    assert state["you"]["status"] == "admitted"
    await doctor.disconnect()
    await again.disconnect()


async def test_denied_patient_is_told_and_closed_with_4403(visit):
    doctor, _, patient, waiting = await _doctor_and_waiting_patient(visit)
    await doctor.send_json_to({"type": "deny", "participant_id": waiting["you"]["participant_id"]})
    denied = await frames_until(patient, "room.denied")
    assert "did not let you in" in denied["message"]
    assert (await patient.receive_output(timeout=2)) == {"type": "websocket.close", "code": 4403}
    await frames_until(doctor, "room.state", where=lambda s: roles(s) == ["doctor"])
    await doctor.disconnect()


async def test_a_frame_the_rules_refuse_is_a_logged_refusal(visit):
    _, doctor_state, patient, _ = await _doctor_and_waiting_patient(visit)
    await patient.send_json_to(
        {"type": "signal", "to": doctor_state["you"]["participant_id"], "data": {}}
    )
    assert (await frames_until(patient, "error"))["code"] == "forbidden"
    refused = AccessLogEntry.objects.filter(what="account", action="refused")
    assert await sync_to_async(list)(refused.values_list("viewer", "channel", "record")) == [
        (visit.patient.user_id, "visit_room", f"FRAME signal /ws/rooms/{visit.room_id}/")
    ]


async def test_signal_reaches_only_its_target_with_a_server_set_sender(visit):
    doctor, doctor_state, patient, waiting = await _doctor_and_waiting_patient(visit)
    patient_id = waiting["you"]["participant_id"]
    doctor_id = doctor_state["you"]["participant_id"]
    # Before admission, no media signaling either way.
    await patient.send_json_to({"type": "signal", "to": doctor_id, "data": {"sdp": "x"}})
    assert (await frames_until(patient, "error"))["code"] == "forbidden"
    await doctor.send_json_to({"type": "signal", "to": patient_id, "data": {"sdp": "x"}})
    assert (await frames_until(doctor, "error"))["code"] == "not_found"

    await doctor.send_json_to({"type": "admit", "participant_id": patient_id})
    await frames_until(patient, "room.state")
    offer = {"type": "offer", "sdp": "v=0..."}
    await doctor.send_json_to({"type": "signal", "to": patient_id, "from": "forged", "data": offer})
    relayed = await frames_until(patient, "signal")
    assert relayed == {"type": "signal", "from": doctor_id, "data": offer}

    # Each side answers the other; everything a sender got up to that answer (which reaches it
    # after its own signal would have, on the same channel) holds no signal: its own never
    # comes back to it.
    answer = {"type": "answer", "sdp": "v=0..."}
    await patient.send_json_to({"type": "signal", "to": doctor_id, "data": answer})
    before, _ = await frames_before(doctor, "signal", where=lambda f: f["data"] == answer)
    assert [f for f in before if f["type"] == "signal"] == [], "the doctor got its own signal"
    candidate = {"candidate": "candidate:1 1 udp 1 192.0.2.1 9 typ host"}
    await doctor.send_json_to({"type": "signal", "to": patient_id, "data": candidate})
    before, _ = await frames_before(patient, "signal", where=lambda f: f["data"] == candidate)
    assert [f for f in before if f["type"] == "signal"] == [], "the patient got its own signal"
    await doctor.disconnect()
    await patient.disconnect()


async def test_chat_is_stored_broadcast_and_replayed_on_join(visit):
    doctor, _, patient, waiting = await _doctor_and_waiting_patient(visit)
    await patient.send_json_to({"type": "chat", "text": "Can you hear me?"})
    assert (await frames_until(patient, "error"))["code"] == "forbidden"

    await doctor.send_json_to({"type": "chat", "text": "  Hello Hanako  "})
    message = await frames_until(doctor, "chat")
    assert message["text"] == "Hello Hanako"
    assert message["sender"]["role"] == "doctor"
    # A waiting patient receives no chat (docs/protocol.md). The admission's room.state reaches
    # the patient's channel after the message's broadcast would have, so every frame before it
    # is one the patient got while waiting.
    await doctor.send_json_to({"type": "admit", "participant_id": waiting["you"]["participant_id"]})
    while_waiting, admitted = await frames_before(
        patient, "room.state", where=lambda s: s["you"]["status"] == "admitted"
    )
    assert [f for f in while_waiting if f["type"] == "chat"] == [], "a waiting patient got chat"
    # Admitted, the patient gets what was said so far once, then every new message.
    assert [m["text"] for m in admitted["chat"]] == ["Hello Hanako"]
    await doctor.send_json_to({"type": "chat", "text": "Can you see me?"})
    live = await frames_until(patient, "chat")
    assert (live["text"], live["sender"]["role"]) == ("Can you see me?", "doctor")
    assert "client_id" not in live
    assert await sync_to_async(ChatMessage.objects.filter(appointment=visit).count)() == 2
    await doctor.disconnect()
    await patient.disconnect()


async def test_media_and_tracks_update_the_state_for_everyone(visit):
    doctor, _, patient, waiting = await _doctor_and_waiting_patient(visit)
    await doctor.send_json_to({"type": "admit", "participant_id": waiting["you"]["participant_id"]})
    await frames_until(patient, "room.state")
    await doctor.send_json_to({"type": "media", "audio": True, "video": False})
    # Only a Calls session created through our proxy by the sender may be announced.
    await doctor.send_json_to(
        {"type": "tracks", "session_id": "s1", "tracks": [{"name": "cam", "kind": "video"}]}
    )
    assert (await frames_until(doctor, "error"))["code"] == "forbidden"
    await get_room_state_store().calls_session_add(visit.room_id.hex, "s1", visit.doctor.user_id)
    await doctor.send_json_to(
        {"type": "tracks", "session_id": "s1", "tracks": [{"name": "cam", "kind": "video"}]}
    )

    def doctor_entry(state):
        return next(p for p in state["participants"] if p["role"] == "doctor")

    state = await frames_until(patient, "room.state", where=lambda s: doctor_entry(s)["tracks"])
    me = doctor_entry(state)
    assert (me["audio"], me["video"], me["session_id"]) == (True, False, "s1")
    assert me["tracks"] == [{"name": "cam", "kind": "video"}]
    await doctor.disconnect()
    await patient.disconnect()


async def test_end_completes_the_visit_and_closes_every_socket(visit):
    doctor, _, patient, waiting = await _doctor_and_waiting_patient(visit)
    await patient.send_json_to({"type": "end"})
    assert (await frames_until(patient, "error"))["code"] == "forbidden"
    await doctor.send_json_to({"type": "admit", "participant_id": waiting["you"]["participant_id"]})
    await frames_until(patient, "room.state")
    await doctor.send_json_to({"type": "end"})
    for socket in (doctor, patient):
        await frames_until(socket, "room.ended")
        assert (await socket.receive_output(timeout=2))["code"] == 4409
    await refresh(visit)
    assert visit.status == "completed"


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('{"no": "type"}', "missing_field"),
        ('{"type": "teleport"}', "unknown_type"),
        ('{"type": "admit"}', "missing_field"),
        ('{"type": "admit", "participant_id": 7}', "invalid_field"),
        ('{"type": "media"}', "missing_field"),
        ('{"type": "media", "audio": "yes"}', "invalid_field"),
        ('{"type": "chat", "text": "   "}', "invalid_field"),
        ('{"type": "signal", "to": "x", "data": "sdp"}', "invalid_field"),
        (
            '{"type": "tracks", "session_id": "s", "tracks": [{"name": "a", "kind": "smell"}]}',
            "invalid_field",
        ),
        (json.dumps({"type": "chat", "text": "x" * 70_000}), "too_large"),
    ],
)
async def test_bad_frames_get_an_error_and_the_socket_stays_open(visit, frame, code):
    doctor = await connect(visit.doctor.user, visit.room_id)
    await frames_until(doctor, "room.state")
    await doctor.send_to(text_data=frame)
    error = await frames_until(doctor, "error")
    assert error["code"] == code and error["message"]
    await doctor.send_json_to({"type": "ping"})
    assert (await frames_until(doctor, "pong")) == {"type": "pong"}
    await doctor.disconnect()


async def test_patient_cannot_use_doctor_commands(visit):
    doctor, doctor_state, patient, _ = await _doctor_and_waiting_patient(visit)
    for frame_type in ("admit", "deny", "remove"):
        await patient.send_json_to(
            {"type": frame_type, "participant_id": doctor_state["you"]["participant_id"]}
        )
        assert (await frames_until(patient, "error"))["code"] == "forbidden"
    await doctor.disconnect()
    await patient.disconnect()


async def test_a_flood_is_rate_limited_then_closed_as_abuse(visit):
    doctor = await connect(visit.doctor.user, visit.room_id)
    await frames_until(doctor, "room.state")
    for _ in range(400):
        await doctor.send_to(text_data='{"type": "ping"}')
    frames = []
    while True:
        output = await doctor.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            break
        frames.append(json.loads(output["text"]))
    assert any(f.get("code") == "rate_limited" for f in frames)
    assert output["code"] == 4429


@pytest.mark.parametrize(
    ("who", "code"),
    [("anonymous", 4401), ("stranger", 4403), ("unknown_room", 4404), ("closed", 4409)],
)
async def test_refusals_carry_their_close_codes(who, code):
    from django.contrib.auth.models import AnonymousUser

    visit = await sync_to_async(make_appointment)(start=at(minutes=5))
    room_id, user = visit.room_id, visit.patient.user
    if who == "anonymous":
        user = AnonymousUser()
    elif who == "stranger":
        user = (await sync_to_async(make_patient)()).user
    elif who == "unknown_room":
        room_id = "00000000-0000-4000-8000-000000000000"
    elif who == "closed":
        visit.status = "cancelled"
        await sync_to_async(visit.save)()
    socket = await connect(user, room_id)
    closed = await frames_until(socket, "room.closed")
    assert closed["code"] == code
    assert (await socket.receive_output(timeout=2)) == {"type": "websocket.close", "code": code}


async def test_silent_participants_are_dropped(visit, settings):
    settings.ROOM_SILENCE_TIMEOUT_SECONDS = 3
    doctor, _, patient, _ = await _doctor_and_waiting_patient(visit)
    # The patient goes quiet; the doctor keeps pinging.
    deadline = asyncio.get_running_loop().time() + 8
    dropped = False
    while asyncio.get_running_loop().time() < deadline and not dropped:
        await doctor.send_json_to({"type": "ping"})
        await asyncio.sleep(0.5)
        while not await doctor.receive_nothing(timeout=0.05):
            frame = await doctor.receive_json_from()
            if frame["type"] == "room.state":
                dropped = roles(frame) == ["doctor"]
    assert dropped
    await doctor.disconnect()
    await patient.disconnect()


async def test_a_ghost_left_by_a_dead_server_process_is_dropped(visit, settings):
    """A participant whose process died stops being heard from; the others sweep it away."""
    settings.ROOM_SILENCE_TIMEOUT_SECONDS = 3
    doctor = await connect(visit.doctor.user, visit.room_id)
    await frames_until(doctor, "room.state")
    ghost = Participant(
        participant_id="ghost",
        user_id=visit.patient.user_id,
        display_name="Ghost",
        role="patient",
        status="admitted",
        channel_name="specific.dead-process!channel",
    )
    await get_room_state_store().add(visit.room_id.hex, ghost, time.time() - 60)
    deadline = asyncio.get_running_loop().time() + 8
    while asyncio.get_running_loop().time() < deadline:
        await doctor.send_json_to({"type": "ping"})
        await asyncio.sleep(0.5)
        if await get_room_state_store().get(visit.room_id.hex, "ghost") is None:
            break
    assert await get_room_state_store().get(visit.room_id.hex, "ghost") is None
    await doctor.disconnect()


async def test_a_second_connection_of_the_same_person_replaces_the_first(visit):
    first = await connect(visit.doctor.user, visit.room_id)
    await frames_until(first, "room.state")
    second = await connect(visit.doctor.user, visit.room_id)
    state = await frames_until(second, "room.state")
    assert roles(state) == ["doctor"]
    replaced = await frames_until(first, "room.closed")
    assert replaced["code"] == 4000
    assert (await first.receive_output(timeout=2)) == {"type": "websocket.close", "code": 4000}
    await second.disconnect()


NUL = "a\u0000b"


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "chat", "text": NUL},
        {"type": "chat", "text": "Hello", "client_id": NUL},
        {"type": "admit", "participant_id": NUL},
        {"type": "deny", "participant_id": NUL},
        {"type": "remove", "participant_id": NUL},
        {"type": "signal", "to": NUL, "data": {"sdp": "x"}},
        {"type": "tracks", "session_id": NUL, "tracks": []},
        {"type": "tracks", "session_id": "s1", "tracks": [{"name": NUL, "kind": "audio"}]},
    ],
    ids=[
        "chat-text",
        "chat-client_id",
        "admit",
        "deny",
        "remove",
        "signal-to",
        "tracks-session_id",
        "tracks-name",
    ],
)
async def test_a_nul_in_any_text_field_is_refused_and_nothing_is_stored(visit, frame):
    """PostgreSQL text cannot hold NUL: it never gets that far."""
    doctor, _, patient, waiting = await _doctor_and_waiting_patient(visit)
    await doctor.send_json_to({"type": "admit", "participant_id": waiting["you"]["participant_id"]})
    await frames_until(patient, "room.state", where=lambda s: s["you"]["status"] == "admitted")
    await doctor.send_to(text_data=json.dumps(frame))  # "\u0000" on the wire, as browsers send
    error = await frames_until(doctor, "error")
    assert error["code"] == "invalid_field" and "cannot be stored" in error["message"]
    await doctor.send_json_to({"type": "ping"})
    assert (await frames_until(doctor, "pong")) == {"type": "pong"}
    assert await sync_to_async(ChatMessage.objects.filter(appointment=visit).count)() == 0


@pytest.mark.parametrize(("who", "logged"), [("stranger", True), ("unknown_room", False)])
async def test_a_refused_room_is_a_logged_refusal_a_missing_one_is_not(who, logged):
    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator

    from rooms.routing import websocket_urlpatterns

    visit = await sync_to_async(make_appointment)(start=at(minutes=5))
    stranger = (await sync_to_async(make_patient)()).user
    room_id = visit.room_id if who == "stranger" else "00000000-0000-4000-8000-000000000000"
    path = f"/ws/rooms/{room_id}/"
    socket = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
    socket.scope |= {"user": stranger, "client": ("10.0.0.2", 50000)}
    socket.scope["headers"] = [
        *socket.scope.get("headers", []),
        (b"x-forwarded-for", b"192.0.2.44"),
    ]
    await socket.connect()
    await frames_until(socket, "room.closed")
    await socket.disconnect()
    events = await sync_to_async(
        lambda: list(
            AccessLogEntry.objects.security_events().values_list(
                "action", "viewer", "channel", "record", "address"
            )
        )
    )()
    # NUM_PROXIES is 0 here: the peer's address, not the header's.
    expected = [("refused", stranger.pk, "visit_room", f"WEBSOCKET {path}", "10.0.0.2")]
    assert events == (expected if logged else [])
