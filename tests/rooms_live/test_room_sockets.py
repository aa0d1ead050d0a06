"""The visit room over real sockets: a `websockets` client against a Daphne process.

The server runs as in production (DEBUG off, the same-origin WebSocket check, JWT or session auth)
on a database made for this module: PostgreSQL when the run's DATABASE_URL names it, else a
SQLite file; with the run's REDIS_URL, if any, for the channel layer and the room state.
"""

import asyncio
import copy
import json
import os
import secrets
import time

import jwt
import pytest
import pytest_asyncio
import requests
from channels.layers import get_channel_layer
from websockets.exceptions import InvalidStatus

from tests.live_server import LiveServer, production_environment
from tests.rooms_live.live_stack import (
    IDLE_RECEIVE_BUG,
    RoomSocket,
    create_postgres_database,
    create_sqlite_database,
    env_postgres_url,
    idle_receive_times_out,
    roles,
    seed,
)

pytestmark = [pytest.mark.slow, pytest.mark.asyncio]

VISITS = 10
CLOSE_TIMEOUT = 10
SAME_ORIGIN = object()


class Live:
    def __init__(self, server: LiveServer, data: dict, vendor: str) -> None:
        self.server = server
        self.data = data
        self.vendor = vendor
        self.opened: list[RoomSocket] = []
        self._next_visit = 0

    def visit(self) -> dict:
        """A visit no other test has used (a room of its own)."""
        visit = self.data["visits"][self._next_visit]
        self._next_visit += 1
        return visit

    async def open(
        self, room_id, *, token=None, bearer=None, origin=SAME_ORIGIN, host="127.0.0.1"
    ) -> RoomSocket:
        """A socket into the room at `host`, with a JWT in the query string and/or the header,
        from this server's own origin unless told otherwise (None: no Origin header at all)."""
        url = self.server.room_url(room_id, f"token={token}" if token else "")
        socket = await RoomSocket.open(
            url.replace("ws://127.0.0.1:", f"ws://{host}:", 1),
            origin=self.server.origin if origin is SAME_ORIGIN else origin,
            headers={"Authorization": f"Bearer {bearer}"} if bearer else None,
        )
        self.opened.append(socket)
        return socket

    async def close_all(self) -> None:
        while self.opened:
            await self.opened.pop().close()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    folder = tmp_path_factory.mktemp("room-sockets")
    postgres = env_postgres_url()
    database = create_postgres_database(postgres) if postgres else create_sqlite_database(folder)
    server = None
    try:
        settings = {**database.settings, "ROOM_STATE_KEY_PREFIX": f"live:{secrets.token_hex(4)}:"}
        if os.environ.get("REDIS_URL"):
            settings["REDIS_URL"] = os.environ["REDIS_URL"]
        env = production_environment(**settings)
        data = seed(env, VISITS)
        server = LiveServer(env, folder / "daphne-sockets.log", name="sockets").start()
        yield Live(server, data, database.vendor)
    finally:
        if server:
            server.stop()
        database.drop()


@pytest_asyncio.fixture(autouse=True)
async def _close_sockets(live):
    # A failed test must not leave its sockets (and their consumers) to the next one.
    yield
    await live.close_all()


async def test_the_server_runs_on_this_configurations_backends(live):
    health = requests.get(f"{live.server.http_url}/healthz", timeout=10).json()
    assert health["status"] == "ok"
    assert health["database"]["vendor"] == live.vendor
    layer = "RedisPubSubChannelLayer" if os.environ.get("REDIS_URL") else "InMemoryChannelLayer"
    assert health["channel_layer"]["backend"] == layer


async def _doctor_and_waiting_patient(live: Live, visit: dict):
    doctor = await live.open(visit["room_id"], token=visit["doctor"]["token"])
    doctor_state = await doctor.next("room.state")
    patient = await live.open(visit["room_id"], bearer=visit["patient"]["token"])
    waiting = await patient.next("room.state")
    return doctor, doctor_state, patient, waiting


async def test_a_token_from_the_login_api_opens_the_room_and_ping_gets_pong(live):
    visit = live.visit()
    signed_in = requests.post(
        f"{live.server.http_url}/api/auth/token/",
        json={"username": visit["doctor"]["username"], "password": live.data["password"]},
        timeout=10,
    )
    assert signed_in.status_code == 200, signed_in.text
    doctor = await live.open(visit["room_id"], token=signed_in.json()["access"])
    state = await doctor.next("room.state")
    assert state["you"]["role"] == "doctor" and state["you"]["status"] == "admitted"
    assert [p["display_name"] for p in state["participants"]] == [visit["doctor"]["display_name"]]
    assert state["chat"] == []

    await doctor.send({"type": "ping"})
    assert await doctor.next("pong") == {"type": "pong"}
    # WebSocket-level pings are answered too (Daphne's own).
    latency = await asyncio.wait_for(await doctor.connection.ping(), 5)
    assert latency >= 0
    await doctor.close()


async def test_a_bearer_header_opens_the_room(live):
    visit = live.visit()
    patient = await live.open(visit["room_id"], bearer=visit["patient"]["token"])
    state = await patient.next("room.state")
    assert state["you"]["role"] == "patient" and state["you"]["status"] == "waiting"
    await patient.close()


def _forged_token(user_id: int) -> str:
    now = int(time.time())
    claims = {"token_type": "access", "user_id": str(user_id), "jti": "x", "iat": now}
    return jwt.encode(
        {**claims, "exp": now + 600},
        "not-the-server-key-but-long-enough-for-hs256",
        algorithm="HS256",
    )


@pytest.mark.parametrize(
    "credentials",
    ["no token", "garbage query token", "garbage bearer", "forged signature", "tampered token"],
)
async def test_without_a_valid_token_the_socket_is_closed_with_4401(live, credentials):
    visit = live.data["visits"][-1]  # nobody gets in, so any room will do
    user_id = visit["patient"]["user_id"]
    options = {
        "no token": lambda: {},
        "garbage query token": lambda: {"token": "not.a.jwt"},
        "garbage bearer": lambda: {"bearer": "not-a-jwt"},
        "forged signature": lambda: {"token": _forged_token(user_id)},
        "tampered token": lambda: {"bearer": visit["patient"]["token"][:-4] + "AAAA"},
    }[credentials]()
    socket = await live.open(visit["room_id"], **options)
    closed = await socket.next("room.closed")
    assert closed["code"] == 4401 and closed["message"]
    assert await socket.closed(CLOSE_TIMEOUT) == 4401


@pytest.mark.parametrize(
    ("who", "code"), [("stranger", 4403), ("unknown room", 4404), ("bad room id", 4404)]
)
async def test_refusals_over_real_sockets_carry_their_close_codes(live, who, code):
    visit = live.data["visits"][-1]
    room_id, token = visit["room_id"], live.data["stranger"]["token"]
    if who == "unknown room":
        room_id, token = "00000000-0000-4000-8000-000000000000", visit["patient"]["token"]
    elif who == "bad room id":
        room_id, token = "not-a-uuid", visit["patient"]["token"]
    socket = await live.open(room_id, token=token)
    assert (await socket.next("room.closed"))["code"] == code
    assert await socket.closed(CLOSE_TIMEOUT) == code


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "https://127.0.0.1.evil.example",
        "null",
        None,
        # The allowed host, but not the origin the site is served on (plain http, this port).
        "http://127.0.0.1:9999",
        "https://127.0.0.1:{port}",
        "https://127.0.0.1",
        "ftp://127.0.0.1:{port}",
        # Another allowed host of this server is another origin.
        "http://localhost:{port}",
    ],
)
async def test_a_foreign_or_missing_origin_is_refused_before_the_socket_opens(live, origin):
    visit = live.data["visits"][-1]
    origin = origin.format(port=live.server.port) if origin else origin
    with pytest.raises(InvalidStatus) as refused:
        await live.open(visit["room_id"], token=visit["doctor"]["token"], origin=origin)
    assert refused.value.response.status_code == 403


async def test_each_allowed_host_opens_from_its_own_origin(live):
    visit = live.data["visits"][-1]
    for host in ("127.0.0.1", "localhost"):
        origin = f"http://{host}:{live.server.port}"
        socket = await live.open(
            visit["room_id"], token=visit["doctor"]["token"], origin=origin, host=host
        )
        assert (await socket.next("room.state"))["you"]["role"] == "doctor"
        await socket.close()


async def test_a_visit_end_to_end_waiting_admit_signal_chat_and_leave(live):
    visit = live.visit()
    doctor, doctor_state, patient, waiting = await _doctor_and_waiting_patient(live, visit)
    doctor_id, patient_id = doctor_state["you"]["participant_id"], waiting["you"]["participant_id"]

    # Waiting: the patient sees the doctor's name only; the doctor sees the patient waiting.
    assert waiting["you"]["status"] == "waiting"
    assert waiting["participants"] == [
        {"display_name": visit["doctor"]["display_name"], "role": "doctor"}
    ]
    told = await doctor.next("room.state", where=lambda s: "patient" in roles(s))
    entry = next(p for p in told["participants"] if p["role"] == "patient")
    assert (entry["participant_id"], entry["status"]) == (patient_id, "waiting")
    assert entry["display_name"] == visit["patient"]["display_name"]

    # Before admission neither chat nor signaling reaches anyone.
    await patient.send({"type": "chat", "text": "Hello?"})
    assert (await patient.next("error"))["code"] == "forbidden"
    await doctor.send({"type": "signal", "to": patient_id, "data": {"sdp": "early"}})
    assert (await doctor.next("error"))["code"] == "not_found"

    # Admit.
    await doctor.send({"type": "admit", "participant_id": patient_id})
    admitted = await patient.next("room.state", where=lambda s: s["you"]["status"] == "admitted")
    assert admitted["chat"] == []
    assert roles(admitted) == ["doctor", "patient"]
    await doctor.next(
        "room.state",
        where=lambda s: any(
            p["status"] == "admitted" and p["role"] == "patient" for p in s["participants"]
        ),
    )

    # Signal relay both ways; `from` is the server's, whatever the client claims.
    offer = {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"}
    await doctor.send({"type": "signal", "to": patient_id, "from": "forged", "data": offer})
    assert await patient.next("signal") == {"type": "signal", "from": doctor_id, "data": offer}
    answer = {"type": "answer", "sdp": "v=0"}
    await patient.send({"type": "signal", "to": doctor_id, "data": answer})
    assert await doctor.next("signal") == {"type": "signal", "from": patient_id, "data": answer}
    candidate = {"candidate": "candidate:1 1 udp 2122260223 10.0.0.2 50000 typ host"}
    await patient.send({"type": "signal", "to": doctor_id, "data": candidate})
    assert (await doctor.next("signal"))["data"] == candidate

    # Media flags reach the other side in the room state.
    await patient.send({"type": "media", "audio": True, "video": False})
    mine = await doctor.next(
        "room.state",
        where=lambda s: any(
            p["participant_id"] == patient_id and p["audio"] for p in s["participants"]
        ),
    )
    assert (
        next(p for p in mine["participants"] if p["participant_id"] == patient_id)["video"] is False
    )

    # Chat both ways: both sides get each message, with the sender's role.
    await doctor.send({"type": "chat", "text": "  How are you feeling today?  "})
    for socket in (doctor, patient):
        message = await socket.next("chat")
        assert (message["text"], message["sender"]["role"]) == (
            "How are you feeling today?",
            "doctor",
        )
    await patient.send({"type": "chat", "text": "Better, thank you."})
    for socket in (doctor, patient):
        message = await socket.next("chat")
        assert (message["text"], message["sender"]["role"]) == ("Better, thank you.", "patient")

    # A clean leave: the doctor sees the room without the patient at once.
    await patient.close()
    assert patient.close_code == 1000
    alone = await doctor.next("room.state", where=lambda s: roles(s) == ["doctor"], timeout=5)
    assert alone["participants"][0]["participant_id"] == doctor_id

    # Coming back: admitted straight away, the chat replayed from the database.
    again = await live.open(visit["room_id"], token=visit["patient"]["token"])
    back = await again.next("room.state")
    assert back["you"]["status"] == "admitted"
    assert [m["text"] for m in back["chat"]] == ["How are you feeling today?", "Better, thank you."]
    await again.close()
    await doctor.close()


async def test_a_denied_patient_is_told_and_closed_with_4403(live):
    visit = live.visit()
    doctor, _, patient, waiting = await _doctor_and_waiting_patient(live, visit)
    await doctor.send({"type": "deny", "participant_id": waiting["you"]["participant_id"]})
    denied = await patient.next("room.denied")
    assert denied["code"] == 4403 and "did not let you in" in denied["message"]
    assert await patient.closed(CLOSE_TIMEOUT) == 4403
    await doctor.next("room.state", where=lambda s: roles(s) == ["doctor"])
    await doctor.close()


async def test_ending_the_visit_closes_every_socket_with_4409(live):
    visit = live.visit()
    doctor, _, patient, waiting = await _doctor_and_waiting_patient(live, visit)
    await doctor.send({"type": "admit", "participant_id": waiting["you"]["participant_id"]})
    await patient.next("room.state", where=lambda s: s["you"]["status"] == "admitted")
    await doctor.send({"type": "end"})
    for socket in (doctor, patient):
        assert await socket.next("room.ended") == {"type": "room.ended"}
        assert await socket.closed(CLOSE_TIMEOUT) == 4409
    # The room stays closed: the appointment is completed.
    late = await live.open(visit["room_id"], token=visit["patient"]["token"])
    assert (await late.next("room.closed"))["code"] == 4409
    assert await late.closed(CLOSE_TIMEOUT) == 4409


BAD_FRAMES = [
    ("not json", "bad_json"),
    ("[1, 2]", "bad_frame"),
    (b"\x00\x01binary", "bad_frame"),
    ('{"no": "type"}', "missing_field"),
    ('{"type": 7}', "missing_field"),
    ('{"type": "teleport"}', "unknown_type"),
    ('{"type": "admit"}', "missing_field"),
    ('{"type": "admit", "participant_id": 7}', "invalid_field"),
    ('{"type": "admit", "participant_id": "nobody"}', "not_found"),
    ('{"type": "media", "audio": "yes"}', "invalid_field"),
    ('{"type": "chat", "text": "   "}', "invalid_field"),
    ('{"type": "signal", "to": "x", "data": "sdp"}', "invalid_field"),
    (
        '{"type": "tracks", "session_id": "s", "tracks": [{"name": "a", "kind": "smell"}]}',
        "invalid_field",
    ),
    (json.dumps({"type": "chat", "text": "x" * 70_000}), "too_large"),
]


async def test_bad_frames_get_an_error_and_the_socket_stays_open(live):
    visit = live.visit()
    doctor = await live.open(visit["room_id"], token=visit["doctor"]["token"])
    await doctor.next("room.state")
    for frame, code in BAD_FRAMES:
        await doctor.send(frame)
        error = await doctor.next("error")
        assert (error["code"], bool(error["message"])) == (code, True), frame[:80]
    await doctor.send({"type": "ping"})
    assert await doctor.next("pong") == {"type": "pong"}
    assert doctor.close_code is None
    await doctor.close()


async def test_the_server_logged_no_errors(live):
    """Nothing above made the server log an error (pytest runs this module in order)."""
    assert live.server.alive()
    assert live.server.errors() == [], live.server.log()[-5000:]


async def test_a_quiet_room_stays_open(live):
    """Nothing happens in the room for longer than redis-py's socket timeout (5 s); pings (far
    less often than the 30 s silence timeout) are all a client sends, and it stays in.

    Which consumer of the process the known bug crashes first is down to timing (channels_redis
    shares one BZPOPMIN among them): after 12 s quiet one of these two has had its turn."""
    visit = live.visit()
    doctor, _, patient, _ = await _doctor_and_waiting_patient(live, visit)
    await doctor.next("room.state", where=lambda s: "patient" in roles(s))
    await asyncio.sleep(12)
    for socket in (doctor, patient):
        await socket.send({"type": "ping"})
        assert await socket.next("pong") == {"type": "pong"}
    await doctor.close()
    await patient.close()


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the in-memory layer has no timeout")
async def test_the_channel_layer_outlasts_an_idle_receive(settings):
    """The root of the quiet-room failure, in this process: the configured channel layer
    (channels_redis) waiting for a message longer than its 5 s BZPOPMIN."""
    # Says why at once; the wait below is the proof.
    assert not idle_receive_times_out(), IDLE_RECEIVE_BUG
    # A layer of this test's own, built now and dropped when the setting is restored.
    settings.CHANNEL_LAYERS = copy.deepcopy(settings.CHANNEL_LAYERS)
    layer = get_channel_layer()
    channel = await layer.new_channel()
    with pytest.raises(TimeoutError):  # asyncio's: nothing came, and nothing broke
        await asyncio.wait_for(layer.receive(channel), 6)
