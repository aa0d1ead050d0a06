"""A user whose password changes or who is deactivated loses their open room sockets (4401),
and a token issued before the change no longer opens one."""

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from channels_redis.pubsub import RedisPubSubChannelLayer
from rest_framework_simplejwt.tokens import AccessToken

from rooms.auth import RoomAuthMiddlewareStack
from rooms.routing import websocket_urlpatterns
from tests.consumers.conftest import connect, frames_until, roles
from visits.services import user_sockets_group

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@sync_to_async
def _change_password(user) -> None:
    user.set_password("a-brand-new-passphrase-42")
    user.save()


@sync_to_async
def _deactivate(user) -> None:
    user.is_active = False
    user.save()


@sync_to_async
def _rename(user) -> None:
    user.first_name = "Renamed"
    user.save()


async def _members(group: str) -> int:
    layer = get_channel_layer()
    if isinstance(layer, RedisPubSubChannelLayer):  # members of this process, the only one
        loop_layer = layer._get_layer()
        return len(loop_layer.groups.get(loop_layer._get_group_channel_name(group), ()))
    if hasattr(layer, "groups"):  # the in-memory layer
        return len(layer.groups.get(group, {}))
    connection = layer.connection(layer.consistent_hash(group))  # channels-redis
    return await connection.zcard(layer._group_key(group))


async def _doctor_and_patient(visit):
    doctor = await connect(visit.doctor.user, visit.room_id)
    await frames_until(doctor, "room.state")
    patient = await connect(visit.patient.user, visit.room_id)
    await frames_until(patient, "room.state")
    await frames_until(doctor, "room.state", where=lambda s: "patient" in roles(s))
    return doctor, patient


async def _closed_with_4401(socket) -> None:
    closed = await frames_until(socket, "room.closed")
    assert closed["code"] == 4401 and "signed out" in closed["message"]
    assert (await socket.receive_output(timeout=2)) == {"type": "websocket.close", "code": 4401}


async def test_a_new_password_closes_the_users_sockets_and_no_one_elses(visit):
    doctor, patient = await _doctor_and_patient(visit)
    await _change_password(visit.patient.user)
    await _closed_with_4401(patient)
    # The doctor stays in the room and sees the patient gone.
    await frames_until(doctor, "room.state", where=lambda s: roles(s) == ["doctor"])
    await doctor.send_json_to({"type": "ping"})
    await frames_until(doctor, "pong")


async def test_deactivation_closes_the_users_sockets(visit):
    doctor, patient = await _doctor_and_patient(visit)
    await _deactivate(visit.doctor.user)
    await _closed_with_4401(doctor)
    await patient.send_json_to({"type": "ping"})
    await frames_until(patient, "pong")


async def test_other_saves_of_the_user_leave_the_socket_open(visit):
    _, patient = await _doctor_and_patient(visit)
    await _rename(visit.patient.user)
    await patient.send_json_to({"type": "ping"})
    await frames_until(patient, "pong")  # no room.closed before it


async def test_a_socket_leaves_the_users_group_when_it_goes(visit):
    group = user_sockets_group(visit.patient.user.id)
    doctor, patient = await _doctor_and_patient(visit)
    assert await _members(group) == 1
    await patient.disconnect()
    assert await _members(group) == 0
    await doctor.disconnect()
    assert await _members(user_sockets_group(visit.doctor.user.id)) == 0


async def test_a_token_issued_before_the_password_change_no_longer_opens_a_room(visit):
    token = await sync_to_async(lambda: str(AccessToken.for_user(visit.patient.user)))()
    await _change_password(visit.patient.user)
    application = RoomAuthMiddlewareStack(URLRouter(websocket_urlpatterns))
    socket = WebsocketCommunicator(application, f"/ws/rooms/{visit.room_id}/?token={token}")
    try:
        connected, _ = await socket.connect()
        assert connected
        closed = await frames_until(socket, "room.closed")
        assert closed["code"] == 4401
    finally:
        await socket.disconnect()
