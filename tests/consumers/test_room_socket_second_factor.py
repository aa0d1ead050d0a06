"""The room socket signed in by session counts the session only once it has passed two-step
sign-in where the person has or needs a second factor, as the portal's pages do."""

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import Client

from rooms.auth import RoomAuthMiddlewareStack
from rooms.routing import websocket_urlpatterns
from tests.factories import make_enrolled

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _mfa_on(settings):
    settings.MFA_REQUIRED_ROLES = ["doctor", "admin"]


@sync_to_async
def _session_cookie(user, *, verified_by=None) -> str:
    client = Client()
    client.force_login(user)
    if verified_by is not None:
        session = client.session
        session["otp_device_id"] = verified_by.persistent_id
        session.save()
    return client.cookies[django_settings.SESSION_COOKIE_NAME].value


async def _first_frame(visit, cookie: str) -> dict:
    application = RoomAuthMiddlewareStack(URLRouter(websocket_urlpatterns))
    socket = WebsocketCommunicator(
        application,
        f"/ws/rooms/{visit.room_id}/",
        headers=[(b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={cookie}".encode())],
    )
    try:
        connected, _ = await socket.connect()
        assert connected
        return await _any_of(socket)
    finally:
        await socket.disconnect()


async def _any_of(socket) -> dict:
    while True:
        frame = await socket.receive_json_from(timeout=3)
        if frame["type"] in ("room.state", "room.closed"):
            return frame


async def test_a_doctor_who_has_not_set_up_the_second_factor_is_not_signed_in_on_the_socket(visit):
    frame = await _first_frame(visit, await _session_cookie(visit.doctor.user))
    assert frame["type"] == "room.closed" and frame["code"] == 4401


async def test_a_session_that_passed_the_code_joins(visit):
    device, _ = await sync_to_async(make_enrolled)(visit.doctor.user)
    unverified = await _first_frame(visit, await _session_cookie(visit.doctor.user))
    assert unverified["type"] == "room.closed"
    verified = await _session_cookie(visit.doctor.user, verified_by=device)
    assert (await _first_frame(visit, verified))["type"] == "room.state"


async def test_a_patient_without_a_second_factor_joins_as_before(visit):
    frame = await _first_frame(visit, await _session_cookie(visit.patient.user))
    assert frame["type"] == "room.state"
