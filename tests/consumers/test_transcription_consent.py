"""Consent to transcribe, through the room's socket: the recording's rule (rooms.consent) with
frames of its own, and independent of the recording (docs/protocol.md, "Transcription")."""

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from rooms.selectors import room_group
from rooms.transcripts.models import Transcription, TranscriptionConsent
from tests.consumers.conftest import connect, frames_until
from visits.models import AccessLogEntry

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("recordings_store"),
]

transcriptions_of = sync_to_async(
    lambda visit: list(Transcription.objects.filter(appointment=visit).order_by("requested_at"))
)
decisions_of = sync_to_async(
    lambda visit: list(
        TranscriptionConsent.objects.filter(transcription__appointment=visit)
        .order_by("at", "pk")
        .values_list("user_id", "decision")
    )
)


def transcription_is(state: str):
    """A room.state whose transcription is in `state`; for "off", one that has ended (a socket
    still holds the states from before the request)."""
    if state == "off":
        return lambda frame: (
            frame["transcription"]["ended"] is not None
            and (frame["transcription"]["state"] == "off")
        )
    return lambda frame: frame["transcription"]["state"] == state


async def until(socket, state: str) -> dict:
    return await frames_until(socket, "room.state", where=transcription_is(state))


async def _admitted_pair(visit):
    doctor = await connect(visit.doctor.user, visit.room_id)
    await frames_until(doctor, "room.state")
    patient = await connect(visit.patient.user, visit.room_id)
    waiting = await frames_until(patient, "room.state")
    await doctor.send_json_to({"type": "admit", "participant_id": waiting["you"]["participant_id"]})
    await frames_until(patient, "room.state", where=lambda s: s["you"]["status"] == "admitted")
    return doctor, patient


async def _asked(visit):
    doctor, patient = await _admitted_pair(visit)
    await doctor.send_json_to({"type": "transcription.request"})
    asked = (await until(patient, "pending"))["transcription"]
    return doctor, patient, asked


async def test_on_only_once_the_patient_allows_and_the_recording_stays_off(visit):
    doctor, patient, asked = await _asked(visit)
    assert asked["waiting_for"] == [visit.patient.user_id]
    assert asked["requested_by"] == {
        "user_id": visit.doctor.user_id,
        "display_name": visit.doctor.display_name,
    }
    await patient.send_json_to(
        {"type": "transcription.consent", "transcription_id": asked["id"], "decision": "allow"}
    )
    for socket in (doctor, patient):
        state = await until(socket, "on")
        assert state["transcription"]["allowed"] == sorted(
            [visit.doctor.user_id, visit.patient.user_id]
        )
        # Two captures, two consents: allowing a transcript allows no recording.
        assert state["recording"]["state"] == "off"
    [transcription] = await transcriptions_of(visit)
    assert transcription.status == Transcription.Status.LIVE
    assert transcription.engine == "local" and transcription.source == "live"
    assert await decisions_of(visit) == [
        (visit.doctor.user_id, "allowed"),
        (visit.patient.user_id, "allowed"),
    ]


async def test_a_decline_ends_it_before_anything_is_transcribed(visit):
    doctor, patient, asked = await _asked(visit)
    await patient.send_json_to(
        {"type": "transcription.consent", "transcription_id": asked["id"], "decision": "decline"}
    )
    ended = (await until(doctor, "off"))["transcription"]["ended"]
    assert ended == {
        "transcription_id": asked["id"],
        "reason": "declined",
        "by": {"user_id": visit.patient.user_id, "display_name": visit.patient.full_name},
    }
    [transcription] = await transcriptions_of(visit)
    assert transcription.status == Transcription.Status.DECLINED
    assert transcription.started_at is None


async def test_the_patient_stops_it_and_a_new_request_asks_again(visit):
    doctor, patient, asked = await _asked(visit)
    await patient.send_json_to(
        {"type": "transcription.consent", "transcription_id": asked["id"], "decision": "allow"}
    )
    await until(doctor, "on")
    await patient.send_json_to({"type": "transcription.stop", "transcription_id": asked["id"]})
    state = await until(doctor, "off")
    assert state["transcription"]["ended"]["reason"] == "stopped"
    await doctor.send_json_to({"type": "transcription.request"})
    again = (await until(patient, "pending"))["transcription"]
    assert again["id"] != asked["id"] and again["waiting_for"] == [visit.patient.user_id]
    statuses = [t.status for t in await transcriptions_of(visit)]
    assert statuses == [Transcription.Status.DONE, Transcription.Status.PENDING]


async def test_refusals_are_error_frames_on_an_open_socket(visit):
    doctor, patient, asked = await _asked(visit)
    await patient.send_json_to({"type": "transcription.request"})
    assert (await frames_until(patient, "error"))["code"] == "forbidden"
    await doctor.send_json_to({"type": "transcription.request"})
    assert (await frames_until(doctor, "error"))["code"] == "transcription_live"
    for bad in ("x", -1, True, "1e3", None):
        await doctor.send_json_to({"type": "transcription.stop", "transcription_id": bad})
        assert (await frames_until(doctor, "error"))["code"] == "invalid_field", bad
    await doctor.send_json_to({"type": "transcription.consent", "transcription_id": asked["id"]})
    assert (await frames_until(doctor, "error"))["code"] == "missing_field"
    await doctor.send_json_to({"type": "transcription.stop", "transcription_id": "999999"})
    assert (await frames_until(doctor, "error"))["code"] == "not_found"
    await patient.send_json_to(
        {"type": "transcription.consent", "transcription_id": asked["id"], "decision": "decline"}
    )
    await until(doctor, "off")
    await patient.send_json_to(
        {"type": "transcription.consent", "transcription_id": asked["id"], "decision": "allow"}
    )
    assert (await frames_until(patient, "error"))["code"] == "transcription_over"
    await patient.send_json_to({"type": "ping"})
    await frames_until(patient, "pong")


async def test_a_waiting_patient_cannot_answer(visit):
    doctor = await connect(visit.doctor.user, visit.room_id)
    await frames_until(doctor, "room.state")
    await doctor.send_json_to({"type": "transcription.request"})
    on = (await until(doctor, "on"))["transcription"]  # nobody else admitted: on at once
    patient = await connect(visit.patient.user, visit.room_id)
    await frames_until(patient, "room.state")
    await patient.send_json_to(
        {"type": "transcription.consent", "transcription_id": on["id"], "decision": "allow"}
    )
    assert (await frames_until(patient, "error"))["code"] == "forbidden"


async def test_admitting_someone_new_pauses_it_until_they_allow(visit):
    doctor = await connect(visit.doctor.user, visit.room_id)
    await frames_until(doctor, "room.state")
    await doctor.send_json_to({"type": "transcription.request"})
    on = (await until(doctor, "on"))["transcription"]
    patient = await connect(visit.patient.user, visit.room_id)
    waiting = await frames_until(patient, "room.state")
    await doctor.send_json_to({"type": "admit", "participant_id": waiting["you"]["participant_id"]})
    paused = (await until(doctor, "paused"))["transcription"]
    assert paused["waiting_for"] == [visit.patient.user_id]
    await patient.send_json_to(
        {"type": "transcription.consent", "transcription_id": on["id"], "decision": "allow"}
    )
    await until(doctor, "on")


async def test_the_draft_note_reaches_the_doctor_only(visit):
    doctor, patient = await _admitted_pair(visit)
    draft = {"id": 7, "status": "ready", "sections": {"plan": "Recheck in 3 months [S1]"}}
    await get_channel_layer().group_send(
        room_group(visit.room_id.hex), {"type": "room.draft_note", "draft_note": draft}
    )
    frame = await frames_until(doctor, "draft_note.ready")
    assert frame["draft_note"] == draft
    await patient.send_json_to({"type": "ping"})
    frames = []
    while (frame := await patient.receive_json_from(timeout=3))["type"] != "pong":
        frames.append(frame["type"])
    assert "draft_note.ready" not in frames
    # What the doctor's sidebar was shown is a read of the draft, as the API's GET is.
    shown = AccessLogEntry.objects.filter(what="draft_note", action="view")
    assert await sync_to_async(list)(shown.values_list("viewer", "channel", "record")) == [
        (visit.doctor.user_id, "visit_room", "draft note 7")
    ]
