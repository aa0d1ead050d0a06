import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from rooms.routing import websocket_urlpatterns
from rooms.state import get_room_state_store
from tests.factories import at, make_appointment


@pytest.fixture
def visit(db):
    return make_appointment(start=at(minutes=5), status="confirmed")


async def connect(user, room_id) -> WebsocketCommunicator:
    """A socket into the room as `user` (the session/JWT middleware is tested separately)."""
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/rooms/{room_id}/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def frames_until(communicator, frame_type: str, where=None, timeout: float = 3) -> dict:
    """Read frames until one of `frame_type` (that satisfies `where`) arrives; return it."""
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        if frame["type"] == frame_type and (where is None or where(frame)):
            return frame


def roles(state: dict) -> list[str]:
    return [participant["role"] for participant in state["participants"]]


async def clear_store(room_id) -> None:
    await get_room_state_store().clear(room_id.hex)


refresh = sync_to_async(lambda obj: obj.refresh_from_db())
