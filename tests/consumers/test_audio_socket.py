"""The audio socket (docs/protocol.md, "The audio socket"): only the visit's doctor, only while
the transcription is on; one stream per admitted speaker; what the engine hears is stored and
sent back with the right speaker; bounded backlog; closed the moment the transcription stops.

The engine is the real local one (rooms.transcripts.pool) on the synthetic dialogue."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from rooms.routing import websocket_urlpatterns
from rooms.transcripts.models import TranscriptSegment
from tests.consumers import conftest as helpers
from tests.consumers.conftest import connect, frames_until
from tests.factories import at, make_appointment, make_doctor
from tests.transcripts.dialogue import DOCTOR, PATIENT, synthesise, word_error_rate

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

FRAME_MS = 200
FRAME_BYTES = 16_000 * 2 * FRAME_MS // 1000

segments_of = sync_to_async(
    lambda visit: list(
        TranscriptSegment.objects.filter(appointment=visit).order_by("start_ms", "pk")
    )
)


@pytest.fixture(scope="module")
def dialogue():
    return synthesise()


async def open_audio(user, room_id) -> tuple[WebsocketCommunicator, dict]:
    """The audio socket as `user`; its first frame (audio.ready, or the closing frame)."""
    socket = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/rooms/{room_id}/audio/")
    socket.scope["user"] = user
    if helpers._open_sockets is not None:
        helpers._open_sockets.append(socket)
    connected, _ = await socket.connect()
    assert connected
    return socket, await socket.receive_json_from(timeout=10)


async def closed_with(socket) -> int:
    while True:
        message = await socket.receive_output(timeout=10)
        if message["type"] == "websocket.close":
            return message["code"]


async def _in_call_transcribed(visit):
    """Doctor and patient in the call; the doctor asked to transcribe, the patient allowed."""
    doctor = await connect(visit.doctor.user, visit.room_id)
    await frames_until(doctor, "room.state")
    patient = await connect(visit.patient.user, visit.room_id)
    waiting = await frames_until(patient, "room.state")
    await doctor.send_json_to({"type": "admit", "participant_id": waiting["you"]["participant_id"]})
    await doctor.send_json_to({"type": "transcription.request"})
    asked = await frames_until(
        patient, "room.state", where=lambda s: s["transcription"]["state"] == "pending"
    )
    transcription_id = asked["transcription"]["id"]
    await patient.send_json_to(
        {"type": "transcription.consent", "transcription_id": transcription_id, "decision": "allow"}
    )
    await frames_until(doctor, "room.state", where=lambda s: s["transcription"]["state"] == "on")
    return doctor, patient, transcription_id


async def _send_audio(socket, stream: int, pcm: bytes) -> None:
    for start in range(0, len(pcm), FRAME_BYTES):
        await socket.send_to(bytes_data=bytes([stream]) + pcm[start : start + FRAME_BYTES])


async def test_nobody_but_the_doctor_of_a_transcribed_visit_gets_in(visit):
    other_doctor = await sync_to_async(make_doctor)()
    for user, code in (
        (AnonymousUser(), 4401),
        (visit.patient.user, 4403),
        (other_doctor.user, 4403),
        (visit.doctor.user, 4409),  # the visit is not being transcribed
    ):
        socket, frame = await open_audio(user, visit.room_id)
        assert frame["type"] == "room.closed" and frame["code"] == code, user
        assert await closed_with(socket) == code


async def test_the_speakers_words_come_back_labelled_and_stored(visit, dialogue):
    _doctor, _patient, transcription_id = await _in_call_transcribed(visit)
    audio, ready = await open_audio(visit.doctor.user, visit.room_id)
    assert ready == {
        "type": "audio.ready",
        "sample_rate": 16000,
        "max_backlog_ms": 20000,
        "max_frame_bytes": 32001,
    }
    for number, user in ((0, visit.doctor.user), (1, visit.patient.user)):
        await audio.send_json_to(
            {"type": "stream.open", "stream": number, "speaker_user_id": user.pk}
        )
        opened = await frames_until(audio, "stream.opened")
        assert opened["stream"] == number and opened["speaker"]["user_id"] == user.pk
    assert opened["speaker"] == {
        "user_id": visit.patient.user_id,
        "role": "patient",
        "display_name": visit.patient.full_name,
    }
    # The first two turns of each side: the doctor's on stream 0, the patient's on stream 1.
    first_turns = dialogue.turns[:4]
    for turn, pcm in zip(first_turns, dialogue.turn_pcm[:4], strict=True):
        silence = bytes(16_000 * 2)  # a second of silence ends the turn for the VAD
        await _send_audio(audio, 0 if turn.speaker == DOCTOR else 1, pcm + silence)
    for number in (0, 1):
        await audio.send_json_to({"type": "stream.close", "stream": number})
    closed = set()
    while closed != {0, 1}:
        frame = await audio.receive_json_from(timeout=60)
        if frame["type"] == "stream.closed":
            closed.add(frame["stream"])

    segments = await segments_of(visit)
    for speaker, user_id in ((DOCTOR, visit.doctor.user_id), (PATIENT, visit.patient.user_id)):
        said = " ".join(t.text for t in first_turns if t.speaker == speaker)
        heard = " ".join(s.text for s in segments if s.speaker_id == user_id)
        assert word_error_rate(said, heard) <= 0.3, (speaker, heard)
    assert {s.transcription_id for s in segments} == {int(transcription_id)}
    assert all(s.engine == "local" and s.end_ms >= s.start_ms for s in segments)
    await audio.disconnect()


async def test_bad_audio_frames_are_refused_and_the_socket_stays(visit, settings):
    settings.TRANSCRIPTION_MAX_BACKLOG_SECONDS = 2
    _doctor, _patient, _ = await _in_call_transcribed(visit)
    audio, _ = await open_audio(visit.doctor.user, visit.room_id)
    await audio.send_to(bytes_data=bytes([3]) + bytes(320))
    assert (await frames_until(audio, "error"))["code"] == "not_found"
    await audio.send_json_to({"type": "stream.open", "stream": 0, "speaker_user_id": 99999})
    assert (await frames_until(audio, "error"))["code"] == "not_found"
    await audio.send_json_to({"type": "stream.open", "stream": 16, "speaker_user_id": 1})
    assert (await frames_until(audio, "error"))["code"] == "invalid_field"
    await audio.send_json_to(
        {"type": "stream.open", "stream": 0, "speaker_user_id": visit.doctor.user_id}
    )
    await frames_until(audio, "stream.opened")
    await audio.send_json_to(
        {"type": "stream.open", "stream": 1, "speaker_user_id": visit.doctor.user_id}
    )
    assert (await frames_until(audio, "error"))["code"] == "conflict"
    await audio.send_to(bytes_data=bytes([0]) + bytes(321))
    assert (await frames_until(audio, "error"))["code"] == "invalid_field"
    await audio.send_to(bytes_data=bytes([0]) + bytes(32_002))
    assert (await frames_until(audio, "error"))["code"] == "too_large"
    # Ten seconds at once against a two-second window: what the engine has not recognised
    # meanwhile is refused, not queued (a warm engine may get through a second or two of
    # silence while the frames arrive, so not necessarily from the third on).
    for _ in range(10):
        await audio.send_to(bytes_data=bytes([0]) + bytes(32_000))
    refused = await frames_until(audio, "error")
    assert refused["code"] == "audio_backlog" and refused["stream"] == 0
    await audio.send_json_to({"type": "ping"})
    await frames_until(audio, "pong")
    await audio.disconnect()


async def test_stopping_the_transcription_closes_the_socket_and_keeps_it_shut(visit):
    _doctor, patient, transcription_id = await _in_call_transcribed(visit)
    audio, _ = await open_audio(visit.doctor.user, visit.room_id)
    await patient.send_json_to({"type": "transcription.stop", "transcription_id": transcription_id})
    assert await closed_with(audio) == 4409
    again, frame = await open_audio(visit.doctor.user, visit.room_id)
    assert frame["code"] == 4409
    assert await closed_with(again) == 4409


async def test_someone_new_in_the_call_pauses_the_audio(db):
    visit = await sync_to_async(make_appointment)(start=at(minutes=5), status="confirmed")
    doctor = await connect(visit.doctor.user, visit.room_id)
    await frames_until(doctor, "room.state")
    await doctor.send_json_to({"type": "transcription.request"})
    await frames_until(doctor, "room.state", where=lambda s: s["transcription"]["state"] == "on")
    audio, ready = await open_audio(visit.doctor.user, visit.room_id)
    assert ready["type"] == "audio.ready"
    patient = await connect(visit.patient.user, visit.room_id)
    waiting = await frames_until(patient, "room.state")
    await doctor.send_json_to({"type": "admit", "participant_id": waiting["you"]["participant_id"]})
    # Paused until the patient allows: no audio of theirs (or anyone's) is taken meanwhile.
    assert await asyncio.wait_for(closed_with(audio), 10) == 4409
