import asyncio
import contextlib

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from rooms.routing import websocket_urlpatterns
from rooms.state import get_room_state_store
from tests.factories import at, make_appointment

# The sockets the running test opened (None outside tests/consumers, e.g. the fuzz tests,
# which close their own).
_open_sockets: list[WebsocketCommunicator] | None = None


@pytest_asyncio.fixture(autouse=True)
async def _disconnect_sockets_left_open():
    """Disconnect every socket a test opened before its event loop closes, as Channels' own
    tests do, so no consumer is still waiting on the channel layer when pytest-asyncio cancels
    what is left (a refusal test's teardown once hung for 300 s in CI on Redis)."""
    global _open_sockets
    _open_sockets = []
    yield
    sockets, _open_sockets = _open_sockets, None
    for socket in sockets:
        with contextlib.suppress(Exception):  # the app may have ended, with or without error
            await socket.disconnect()
    # channels-redis: a receive cancelled mid-BZPOPMIN can stay pending (redis-py shields the
    # read), and pytest-asyncio would wait for it forever when it closes the loop; closing the
    # layer's connections ends it.
    layer = get_channel_layer()
    if hasattr(layer, "close_pools"):
        with contextlib.suppress(Exception):
            await asyncio.wait_for(layer.close_pools(), timeout=5)


@pytest.fixture
def visit(db):
    return make_appointment(start=at(minutes=5), status="confirmed")


async def connect(user, room_id) -> WebsocketCommunicator:
    """A socket into the room as `user` (the session/JWT middleware is tested separately)."""
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/rooms/{room_id}/")
    communicator.scope["user"] = user
    if _open_sockets is not None:
        _open_sockets.append(communicator)
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
