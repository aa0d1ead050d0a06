"""A visit while Redis goes away: a Daphne process on a redis-server of this module's own, which
the tests take down and bring back (SIGKILL, restart: connections reset, new ones refused) or
stall (SIGSTOP: nothing answered). The sockets stay open; a chat message that could not be
stored is reported not sent, and sent again once Redis is back.
"""

import asyncio
import secrets

import pytest
import pytest_asyncio

from tests.live_server import LiveServer, production_environment
from tests.rooms_live.live_stack import (
    RedisServer,
    RoomSocket,
    create_postgres_database,
    create_sqlite_database,
    env_postgres_url,
    roles,
    seed,
)

pytestmark = [pytest.mark.slow, pytest.mark.asyncio]

KEEPALIVE = 2.0
# How the crashes this module guards against showed in the server's log.
CRASH = "Exception inside application"


class Stack:
    def __init__(self, redis: RedisServer, server: LiveServer, data: dict) -> None:
        self.redis = redis
        self.server = server
        self.data = data
        self.opened: list[RoomSocket] = []
        self._next_visit = 0

    def visit(self) -> dict:
        visit = self.data["visits"][self._next_visit]
        self._next_visit += 1
        return visit

    async def open(self, room_id: str, token: str) -> RoomSocket:
        socket = await RoomSocket.open(
            self.server.room_url(room_id, f"token={token}"),
            origin=self.server.origin,
            keepalive=KEEPALIVE,
        )
        self.opened.append(socket)
        return socket

    async def admitted_pair(self, visit: dict) -> tuple[RoomSocket, RoomSocket]:
        doctor = await self.open(visit["room_id"], visit["doctor"]["token"])
        await doctor.next("room.state")
        patient = await self.open(visit["room_id"], visit["patient"]["token"])
        waiting = await patient.next("room.state")
        await doctor.send({"type": "admit", "participant_id": waiting["you"]["participant_id"]})
        await patient.next("room.state", where=lambda s: s["you"]["status"] == "admitted")
        await doctor.next("room.state", where=lambda s: "patient" in roles(s))
        return doctor, patient


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("room-redis-outage")
    try:
        redis = RedisServer(folder).start()
    except RuntimeError as error:
        pytest.skip(f"needs a redis-server of its own: {error}")
    postgres = env_postgres_url()
    database = create_postgres_database(postgres) if postgres else create_sqlite_database(folder)
    server = None
    try:
        env = production_environment(
            **database.settings,
            REDIS_URL=redis.url,
            ROOM_STATE_KEY_PREFIX=f"live-outage:{secrets.token_hex(4)}:",
        )
        data = seed(env, 4)
        server = LiveServer(env, folder / "daphne-outage.log", name="outage").start()
        yield Stack(redis, server, data)
    finally:
        if server:
            server.stop()
        redis.stop()
        database.drop()


@pytest_asyncio.fixture(autouse=True)
async def _close_sockets(stack):
    yield
    if stack.redis.process.poll() is None:
        stack.redis.resume()  # a failed test may leave it stalled ...
    else:
        stack.redis.start()  # ... or down
    while stack.opened:
        await stack.opened.pop().close()


# The sweep interval (5 s) after the sweeper's longest backoff (10 s), and some room.
CATCH_UP_SECONDS = 20


async def _chat_reaches(socket: RoomSocket, chat_id: int) -> str:
    """A chat message reaches the socket live (a `chat` frame) or, when the channel layer's
    pub/sub lost the broadcast while the server was reconnecting to Redis, with the chat
    history of the room.state that the room's version brings at the next sweep."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CATCH_UP_SECONDS
    while loop.time() < deadline:
        for frame in socket.seen:
            if frame["type"] == "chat" and frame["id"] == chat_id:
                return "live"
            history = frame.get("chat", ()) if frame["type"] == "room.state" else ()
            if chat_id in {message["id"] for message in history}:
                return "caught up"
        await asyncio.sleep(0.1)
    raise AssertionError(f"chat {chat_id} never reached the socket; last: {socket.seen[-5:]}")


async def test_a_redis_outage_of_5_s_closes_no_socket_and_loses_no_chat(stack):
    visit = stack.visit()
    doctor, patient = await stack.admitted_pair(visit)
    stack.redis.stop()
    message = {"type": "chat", "text": "Is the picture frozen?", "client_id": "outage-1"}
    await doctor.send(message)
    refused = await doctor.next("error", where=lambda f: f.get("client_id") == "outage-1")
    assert refused["code"] == "not_sent"
    await asyncio.sleep(5)  # the outage itself
    stack.redis.start()

    # Sent again, as the page's Retry does, once Redis answers: delivered once, to both.
    await doctor.send(message)
    acknowledged = await doctor.next("chat", where=lambda f: f.get("client_id") == "outage-1")
    assert acknowledged["text"] == message["text"]
    await _chat_reaches(patient, acknowledged["id"])
    assert [f for f in patient.seen if f["type"] == "chat"].count(acknowledged) <= 1
    # The room goes on: a change reaches the other side through the channel layer.
    await patient.send({"type": "media", "audio": True})
    await doctor.next(
        "room.state",
        where=lambda s: any(p["role"] == "patient" and p["audio"] for p in s["participants"]),
    )
    assert doctor.close_code is None and patient.close_code is None
    assert not [line for line in stack.server.log().splitlines() if CRASH in line]
    assert not [m for m in doctor.seen + patient.seen if m.get("code") == "internal"]


async def test_a_redis_stall_longer_than_its_read_timeout_closes_no_socket(stack):
    visit = stack.visit()
    doctor, patient = await stack.admitted_pair(visit)
    stack.redis.pause()
    try:
        await doctor.send({"type": "chat", "text": "Hello?", "client_id": "stall-1"})
        # redis-py gives up reading after 5 s: the message is reported not sent.
        refused = await doctor.next(
            "error", where=lambda f: f.get("client_id") == "stall-1", timeout=30
        )
        assert refused["code"] == "not_sent"
    finally:
        stack.redis.resume()
    await doctor.send({"type": "chat", "text": "Hello?", "client_id": "stall-1"})
    await doctor.next("chat", where=lambda f: f.get("client_id") == "stall-1")
    assert (await patient.next("chat"))["text"] == "Hello?"
    assert doctor.close_code is None and patient.close_code is None
    assert not [line for line in stack.server.log().splitlines() if CRASH in line]
