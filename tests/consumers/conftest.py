import asyncio
import contextlib
import importlib

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from channels_redis.pubsub import RedisPubSubChannelLayer

from rooms.routing import websocket_urlpatterns
from rooms.state import get_room_state_store
from tests.factories import at, make_appointment

# The sockets the running test opened (None outside tests/consumers, e.g. the fuzz tests,
# which close their own).
_open_sockets: list[WebsocketCommunicator] | None = None


@pytest_asyncio.fixture(autouse=True)
async def _disconnect_sockets_left_open(request):
    """Disconnect every socket a test opened before its event loop closes, as Channels' own
    tests do, so no consumer is still waiting on the channel layer when pytest-asyncio cancels
    what is left (a refusal test's teardown once hung for 300 s in CI on Redis)."""
    # pytest imports this file as a conftest module of its own, apart from the
    # `tests.consumers.conftest` that the tests import connect() from: the list must be that
    # module's, or connect() never sees it (and no socket was ever disconnected here).
    helpers = importlib.import_module("tests.consumers.conftest")
    helpers._open_sockets = []
    yield
    sockets, helpers._open_sockets = helpers._open_sockets, None
    for socket in sockets:
        with contextlib.suppress(Exception):  # the app may have ended, with or without error
            await socket.disconnect()
    layer = get_channel_layer()
    # As channels' own tests check: a consumer that disconnected is in no group any more (a
    # channel left in a room's group would get its broadcasts, and the group would never empty).
    left_behind = await _groups_with_members(layer)
    # channels-redis: a receive cancelled mid-BZPOPMIN can stay pending (redis-py shields the
    # read), and pytest-asyncio would wait for it forever when it closes the loop; closing the
    # layer's connections ends it. The pub/sub layer's flush closes its connections and its
    # receiving task (it holds nothing in Redis to flush).
    if isinstance(layer, RedisPubSubChannelLayer):
        with contextlib.suppress(Exception):
            await asyncio.wait_for(layer.flush(), timeout=5)
    elif hasattr(layer, "close_pools"):
        with contextlib.suppress(Exception):
            await asyncio.wait_for(layer.close_pools(), timeout=5)
    assert not left_behind, f"groups still hold disconnected consumers: {left_behind}"


async def _groups_with_members(layer) -> dict[str, list[str]]:
    """Every group of the channel layer that still has a member; emptied, so that a test that
    leaves one behind fails alone and not every test after it."""
    if isinstance(layer, InMemoryChannelLayer):
        groups = {group: list(members) for group, members in layer.groups.items() if members}
        layer.groups.clear()
        return groups
    if isinstance(layer, RedisPubSubChannelLayer):
        # One Redis pub/sub channel per group, subscribed while this process has a member.
        loop_layer = layer._get_layer()
        groups = {group: list(members) for group, members in loop_layer.groups.items() if members}
        loop_layer.groups.clear()
        return groups
    # channels-redis's core layer: one sorted set per group, "<prefix>:group:<name>".
    connection, key_prefix = layer.connection(0), f"{layer.prefix}:group:"
    groups = {}
    async for key in connection.scan_iter(match=f"{key_prefix}*".encode()):
        members = await connection.zrange(key, 0, -1)
        if members:
            groups[key.decode().removeprefix(key_prefix)] = [m.decode() for m in members]
        await connection.delete(key)
    return groups


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


async def frames_before(
    communicator, frame_type: str, where=None, timeout: float = 3
) -> tuple[list[dict], dict]:
    """Like frames_until, but also the frames read before that one: what a socket got up to a
    point the test awaits (frames_until skips them unseen)."""
    before = []
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        if frame["type"] == frame_type and (where is None or where(frame)):
            return before, frame
        before.append(frame)


def roles(state: dict) -> list[str]:
    return [participant["role"] for participant in state["participants"]]


async def clear_store(room_id) -> None:
    await get_room_state_store().clear(room_id.hex)


refresh = sync_to_async(lambda obj: obj.refresh_from_db())
