"""The room consumer when what it stands on fails for a while: the room state (Redis), the
database, the channel layer. Sockets stay open through short failures, sweepers keep sweeping,
and a chat message that could not be stored is reported to its sender, never dropped."""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from rooms import consumers, services
from rooms.models import ChatMessage
from rooms.protocol import CloseCode
from rooms.state import Participant, get_room_state_store
from tests.consumers.conftest import connect, frames_until, roles

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

chat_count = sync_to_async(lambda visit: ChatMessage.objects.filter(appointment=visit).count())


async def _admitted_pair(visit):
    doctor = await connect(visit.doctor.user, visit.room_id)
    await frames_until(doctor, "room.state")
    patient = await connect(visit.patient.user, visit.room_id)
    waiting = await frames_until(patient, "room.state")
    await doctor.send_json_to({"type": "admit", "participant_id": waiting["you"]["participant_id"]})
    await frames_until(patient, "room.state", where=lambda s: s["you"]["status"] == "admitted")
    await frames_until(doctor, "room.state", where=lambda s: "patient" in roles(s))
    return doctor, patient


def _fail_once(monkeypatch, owner, name: str, error: Exception) -> list:
    """Make owner.name raise `error` on its next call only; the list records the calls."""
    real = getattr(owner, name)
    calls = []

    async def flaky(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise error
        return await real(*args, **kwargs)

    monkeypatch.setattr(owner, name, flaky)
    return calls


@pytest.mark.parametrize("failing", ["room state", "database"])
async def test_a_chat_that_could_not_be_stored_is_reported_not_sent_and_can_be_sent_again(
    visit, monkeypatch, failing
):
    doctor, patient = await _admitted_pair(visit)
    if failing == "room state":  # the admitted check reads Redis first
        store = get_room_state_store()
        _fail_once(monkeypatch, store, "get", RedisConnectionError("Redis is away"))
    else:
        _fail_once(monkeypatch, services, "_store_chat", OperationalError("database is away"))

    message = {"type": "chat", "text": "Please take the tablets twice a day", "client_id": "m-1"}
    await doctor.send_json_to(message)
    refused = await frames_until(doctor, "error")
    assert refused["code"] == "not_sent" and refused["client_id"] == "m-1"
    assert "not sent" in refused["message"]
    assert await chat_count(visit) == 0
    assert await patient.receive_nothing(timeout=0.3)

    # Sent again as the page's Retry does: stored once, acknowledged with its client id.
    await doctor.send_json_to(message)
    acknowledged = await frames_until(doctor, "chat")
    assert acknowledged["client_id"] == "m-1" and acknowledged["text"] == message["text"]
    relayed = await frames_until(patient, "chat")
    assert relayed["id"] == acknowledged["id"] and "client_id" not in relayed
    assert await chat_count(visit) == 1
    # The sender gets its message once: the acknowledgement, not the broadcast copy too.
    await doctor.send_json_to({"type": "ping"})
    assert (await doctor.receive_json_from(timeout=3))["type"] == "pong"


async def test_a_stored_chat_is_broadcast_once_the_channel_layer_answers_again(visit, monkeypatch):
    doctor, patient = await _admitted_pair(visit)
    layer = get_channel_layer()
    calls = _fail_once(monkeypatch, layer, "group_send", RedisConnectionError("Redis is away"))
    await doctor.send_json_to({"type": "chat", "text": "Are you there?", "client_id": "m-2"})
    assert (await frames_until(doctor, "chat"))["client_id"] == "m-2"
    assert (await frames_until(patient, "chat"))["text"] == "Are you there?"
    assert len(calls) == 2  # the first broadcast failed; the retry got through


async def test_a_refused_chat_names_its_client_id(visit):
    doctor = await connect(visit.doctor.user, visit.room_id)
    patient = await connect(visit.patient.user, visit.room_id)  # waiting: may not chat
    await frames_until(patient, "room.state")
    await patient.send_json_to({"type": "chat", "text": "Hello?", "client_id": "m-3"})
    refused = await frames_until(patient, "error")
    assert refused["code"] == "forbidden" and refused["client_id"] == "m-3"
    await doctor.send_json_to({"type": "chat", "text": "   ", "client_id": "m-4"})
    refused = await frames_until(doctor, "error")
    assert refused["code"] == "invalid_field" and refused["client_id"] == "m-4"


async def test_the_sweeper_keeps_sweeping_after_errors(visit, monkeypatch):
    monkeypatch.setattr(consumers, "SWEEP_SECONDS", 0.2)
    store = get_room_state_store()
    real_drop_silent = services.drop_silent
    attempts = 0
    ghost_gone = asyncio.Event()

    async def failing_twice(access):
        nonlocal attempts
        attempts += 1
        if attempts <= 2:
            raise RedisConnectionError("Redis is away")
        dropped = await real_drop_silent(access)
        if await store.get(access.room, "ghost") is None:
            ghost_gone.set()
        return dropped

    monkeypatch.setattr(services, "drop_silent", failing_twice)
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
    await store.add(visit.room_id.hex, ghost, time.time() - 600)
    await asyncio.wait_for(ghost_gone.wait(), timeout=5)
    assert attempts >= 3
    await frames_until(doctor, "room.state", where=lambda s: roles(s) == ["doctor"])


async def test_a_failing_touch_does_not_fail_the_frame(visit, monkeypatch):
    doctor = await connect(visit.doctor.user, visit.room_id)
    await frames_until(doctor, "room.state")

    async def away(*args):
        raise RedisConnectionError("Redis is away")

    monkeypatch.setattr(services, "heard_from", away)
    monkeypatch.setattr(consumers, "TOUCH_SECONDS", 0)
    for _ in range(3):
        await doctor.send_json_to({"type": "ping"})
        assert (await doctor.receive_json_from(timeout=3)) == {"type": "pong"}


def _layer_receive_failing(monkeypatch, failures: int | None) -> list:
    """The channel layer's receive raises for its first `failures` calls (None: always)."""
    layer = get_channel_layer()
    real = layer.receive
    calls = []

    async def receive(channel):
        calls.append(channel)
        if failures is None or len(calls) <= failures:
            raise RedisConnectionError("Redis is away")
        return await real(channel)

    monkeypatch.setattr(layer, "receive", receive)
    return calls


async def test_a_short_channel_layer_outage_is_waited_out(visit, monkeypatch):
    calls = _layer_receive_failing(monkeypatch, failures=4)
    doctor = await connect(visit.doctor.user, visit.room_id)
    # The state a join broadcasts comes through the channel layer, once it answers again.
    assert (await frames_until(doctor, "room.state"))["you"]["role"] == "doctor"
    assert len(calls) >= 5
    patient = await connect(visit.patient.user, visit.room_id)
    await frames_until(patient, "room.state")
    await frames_until(doctor, "room.state", where=lambda s: "patient" in roles(s))


async def test_a_long_channel_layer_outage_closes_with_a_code_the_page_reconnects_on(
    visit, monkeypatch
):
    monkeypatch.setattr(consumers, "LAYER_OUTAGE_LIMIT_SECONDS", 0.5)
    _layer_receive_failing(monkeypatch, failures=None)
    doctor = await connect(visit.doctor.user, visit.room_id)
    closed = await frames_until(doctor, "room.closed")
    assert closed["code"] == CloseCode.UNAVAILABLE == 4503
    assert (await doctor.receive_output(timeout=3)) == {"type": "websocket.close", "code": 4503}


async def test_a_join_the_room_state_refuses_closes_with_a_code_the_page_reconnects_on(
    visit, monkeypatch
):
    _fail_once(monkeypatch, get_room_state_store(), "add", RedisConnectionError("Redis is away"))
    doctor = await connect(visit.doctor.user, visit.room_id)
    assert (await frames_until(doctor, "room.closed"))["code"] == 4503
    assert (await doctor.receive_output(timeout=3)) == {"type": "websocket.close", "code": 4503}
    again = await connect(visit.doctor.user, visit.room_id)
    assert (await frames_until(again, "room.state"))["you"]["role"] == "doctor"


async def test_a_missed_room_state_is_sent_by_the_sweeper(visit, monkeypatch):
    monkeypatch.setattr(consumers, "SWEEP_SECONDS", 0.2)
    doctor = await connect(visit.doctor.user, visit.room_id)
    doctor_id = (await frames_until(doctor, "room.state"))["you"]["participant_id"]
    real_view_for = services.view_for
    failed = []

    async def failing_once_for_the_doctor(access, participant_id):
        if participant_id == doctor_id and not failed:
            failed.append(participant_id)
            raise RedisConnectionError("Redis is away")
        return await real_view_for(access, participant_id)

    monkeypatch.setattr(services, "view_for", failing_once_for_the_doctor)
    patient = await connect(visit.patient.user, visit.room_id)
    await frames_until(patient, "room.state")
    # The doctor's room.changed for the patient's arrival failed; the sweep makes up for it.
    await frames_until(doctor, "room.state", where=lambda s: "patient" in roles(s))
    assert failed
