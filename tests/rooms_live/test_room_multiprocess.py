"""One visit across two Daphne processes sharing this machine's Redis and one PostgreSQL database:
the doctor on one process, the patient on the other. And a process killed outright: the other
side sees its participant disappear once the silence timeout runs out.
"""

import asyncio
import json
import os
import secrets
import time

import pytest
import pytest_asyncio
import redis

from tests.live_server import LiveServer, production_environment
from tests.rooms_live.live_stack import (
    DEFAULT_POSTGRES_URL,
    DEFAULT_REDIS_URL,
    RoomSocket,
    SocketClosed,
    create_postgres_database,
    env_postgres_url,
    postgres_reachable,
    roles,
    seed,
)

pytestmark = [pytest.mark.slow, pytest.mark.asyncio]

SILENCE_TIMEOUT = 5
# A killed process's participant must be gone by then: the timeout, plus up to one touch
# interval before the kill (timeout / 4), one sweep interval (timeout / 3) and some slack.
DETECTION_LIMIT = 12
KEEPALIVE = 1.0  # every client pings this often, well inside the 5 s timeout
VISITS = 3


def _redis_url() -> str:
    # The run's Redis, never flushed: the room state's keys carry a prefix of this module's
    # own (deleted at the end) and channel names are random.
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


class Cluster:
    def __init__(self, env: dict[str, str], folder, data: dict, redis_client, prefix: str):
        self.env = env
        self.folder = folder
        self.data = data
        self.redis = redis_client
        self.prefix = prefix
        self.servers: list[LiveServer] = []

    def start(self, name: str) -> LiveServer:
        server = LiveServer(self.env, self.folder / f"daphne-{name}.log", name=name)
        self.servers.append(server)
        return server.start()

    async def stored_roles_become(self, room_id: str, expected: list[str], timeout=5.0) -> None:
        """Wait for the shared state to settle (a leave is written after the socket closes)."""
        deadline = time.monotonic() + timeout
        while self.stored_roles(room_id) != expected and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert self.stored_roles(room_id) == expected

    def stored_roles(self, room_id: str) -> list[str]:
        """Roles of the room's participants as the shared state in Redis has them."""
        room = room_id.replace("-", "")
        entries = self.redis.hvals(f"{self.prefix}{room}:participants")
        return sorted(json.loads(entry)["role"] for entry in entries)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    postgres = env_postgres_url() or DEFAULT_POSTGRES_URL
    if why := postgres_reachable(postgres):
        pytest.skip(f"two server processes need a shared PostgreSQL: {why}")
    redis_url = _redis_url()
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"two server processes need a shared Redis ({redis_url}): {error}")
    folder = tmp_path_factory.mktemp("room-multiprocess")
    database = create_postgres_database(postgres)
    prefix = f"live-mp:{secrets.token_hex(4)}:"
    cluster = None
    try:
        env = production_environment(
            **database.settings,
            REDIS_URL=redis_url,
            ROOM_STATE_KEY_PREFIX=prefix,
            ROOM_SILENCE_TIMEOUT_SECONDS=str(SILENCE_TIMEOUT),
        )
        cluster = Cluster(env, folder, seed(env, VISITS), client, prefix)
        cluster.start("a")
        cluster.start("b")
        yield cluster
    finally:
        for server in cluster.servers if cluster else []:
            server.stop()
        database.drop()
        for key in client.scan_iter(match=f"{prefix}*", count=500):
            client.delete(key)
        client.close()


OPENED: list[RoomSocket] = []


async def _open(server: LiveServer, room_id: str, token: str) -> RoomSocket:
    socket = await RoomSocket.open(
        server.room_url(room_id, f"token={token}"), origin=server.origin, keepalive=KEEPALIVE
    )
    OPENED.append(socket)
    return socket


@pytest_asyncio.fixture(autouse=True)
async def _close_sockets():
    # A failed test must not leave its sockets (and their consumers) to the next one.
    yield
    while OPENED:
        await OPENED.pop().close()


def _has_admitted_patient(state: dict) -> bool:
    return any(p["role"] == "patient" and p["status"] == "admitted" for p in state["participants"])


async def test_a_visit_across_two_processes(cluster):
    a, b = cluster.servers[0], cluster.servers[1]
    visit = cluster.data["visits"][0]
    room_id = visit["room_id"]
    doctor = await _open(a, room_id, visit["doctor"]["token"])
    doctor_id = (await doctor.next("room.state"))["you"]["participant_id"]
    patient = await _open(b, room_id, visit["patient"]["token"])

    # Waiting, seen from both processes.
    waiting = await patient.next("room.state")
    patient_id = waiting["you"]["participant_id"]
    assert waiting["you"]["status"] == "waiting"
    assert waiting["participants"] == [
        {"display_name": visit["doctor"]["display_name"], "role": "doctor"}
    ]
    told = await doctor.next("room.state", where=lambda s: "patient" in roles(s))
    assert [p["status"] for p in told["participants"] if p["role"] == "patient"] == ["waiting"]

    # Admission on A reaches the patient's socket on B.
    await doctor.send({"type": "admit", "participant_id": patient_id})
    admitted = await patient.next("room.state", where=lambda s: s["you"]["status"] == "admitted")
    assert roles(admitted) == ["doctor", "patient"] and admitted["chat"] == []
    await doctor.next("room.state", where=_has_admitted_patient)

    # Signal relay across processes, with `from` set by the sending process.
    offer = {"type": "offer", "sdp": "v=0 (from A)"}
    await doctor.send({"type": "signal", "to": patient_id, "from": "forged", "data": offer})
    assert await patient.next("signal") == {"type": "signal", "from": doctor_id, "data": offer}
    answer = {"type": "answer", "sdp": "v=0 (from B)"}
    await patient.send({"type": "signal", "to": doctor_id, "from": doctor_id, "data": answer})
    assert await doctor.next("signal") == {"type": "signal", "from": patient_id, "data": answer}

    # Chat both ways: each side gets both messages, in order.
    await doctor.send({"type": "chat", "text": "Hello from process A"})
    await doctor.next("chat")  # stored: its id comes before the answer's
    await patient.send({"type": "chat", "text": "Hello from process B"})
    assert (await doctor.next("chat"))["text"] == "Hello from process B"
    # The patient's own message is acknowledged straight from its socket, so it may overtake
    # the doctor's, still on its way through Redis; the stored order (ids) is the visit's.
    received = sorted([await patient.next("chat") for _ in range(2)], key=lambda m: m["id"])
    assert [m["text"] for m in received] == ["Hello from process A", "Hello from process B"]

    # Media flags set on B show in the state the doctor gets on A.
    await patient.send({"type": "media", "video": True})
    await doctor.next(
        "room.state",
        where=lambda s: any(p["role"] == "patient" and p["video"] for p in s["participants"]),
    )

    # A clean leave on B is seen on A at once (long before any timeout).
    started = time.monotonic()
    await patient.close()
    await doctor.next("room.state", where=lambda s: roles(s) == ["doctor"], timeout=3)
    assert time.monotonic() - started < SILENCE_TIMEOUT
    assert cluster.stored_roles(room_id) == ["doctor"]
    await doctor.close()
    await cluster.stored_roles_become(room_id, [])


async def test_reconnecting_on_the_other_process_replaces_the_first_connection(cluster):
    a, b = cluster.servers[0], cluster.servers[1]
    visit = cluster.data["visits"][1]
    room_id = visit["room_id"]
    doctor = await _open(a, room_id, visit["doctor"]["token"])
    await doctor.next("room.state")
    first = await _open(b, room_id, visit["patient"]["token"])
    await first.next("room.state")

    second = await _open(a, room_id, visit["patient"]["token"])
    again = await second.next("room.state")
    assert again["you"]["status"] == "waiting"
    replaced = await first.next("room.closed")
    assert replaced["code"] == 4000
    assert await first.closed(10) == 4000

    def patients(state):
        return [p["participant_id"] for p in state["participants"] if p["role"] == "patient"]

    # One entry per person: the doctor's view ends with the new connection only.
    await doctor.next("room.state", where=lambda s: patients(s) == [again["you"]["participant_id"]])
    assert cluster.stored_roles(room_id) == ["doctor", "patient"]
    await second.close()
    await doctor.close()
    await cluster.stored_roles_become(room_id, [])


async def test_a_killed_process_s_participant_disappears_within_the_timeout(cluster):
    a = cluster.servers[0]
    doomed = cluster.start("doomed")
    visit = cluster.data["visits"][2]
    room_id = visit["room_id"]
    doctor = await _open(a, room_id, visit["doctor"]["token"])
    await doctor.next("room.state")
    patient = await _open(doomed, room_id, visit["patient"]["token"])
    patient_id = (await patient.next("room.state"))["you"]["participant_id"]
    await doctor.send({"type": "admit", "participant_id": patient_id})
    await patient.next("room.state", where=lambda s: s["you"]["status"] == "admitted")
    await doctor.next("room.state", where=_has_admitted_patient)

    # A quiet spell longer than the silence timeout: pings alone keep both in the room, each
    # process's sweeps seeing the other's participant as alive.
    await asyncio.sleep(SILENCE_TIMEOUT + 1)
    assert cluster.stored_roles(room_id) == ["doctor", "patient"]
    if doctor.close_code or patient.close_code:
        raise SocketClosed(
            f"a socket closed while the room was quiet: doctor {doctor.close_code}, "
            f"patient {patient.close_code}"
        )
    await doctor.send({"type": "media", "audio": True})  # and the doctor's process still acts
    await doctor.next("room.state", where=lambda s: roles(s) == ["doctor", "patient"])

    # No goodbye: the process and the patient's socket die together.
    killed_at = time.monotonic()
    doomed.kill()
    assert await patient.closed(10) == 1006
    assert cluster.stored_roles(room_id) == ["doctor", "patient"], "a ghost was expected"

    gone = await doctor.next(
        "room.state", where=lambda s: roles(s) == ["doctor"], timeout=DETECTION_LIMIT
    )
    detected = time.monotonic() - killed_at
    print(
        f"\nkilled process's participant dropped after {detected:.1f} s "
        f"(ROOM_SILENCE_TIMEOUT_SECONDS={SILENCE_TIMEOUT}, limit {DETECTION_LIMIT} s)"
    )
    assert gone["you"]["status"] == "admitted"
    assert SILENCE_TIMEOUT - 2.5 <= detected <= DETECTION_LIMIT
    assert cluster.stored_roles(room_id) == ["doctor"]

    # The doctor's side carries on: the socket on A still answers.
    await doctor.send({"type": "chat", "text": "Are you still there?"})
    assert (await doctor.next("chat"))["text"] == "Are you still there?"
    await doctor.close()
    assert not doomed.alive() and a.alive()


async def test_the_surviving_servers_logged_no_errors(cluster):
    """After the tests above (pytest runs this module in order): the processes not killed are
    up and logged no error."""
    for server in cluster.servers[:2]:
        assert server.alive(), server.name
        assert server.errors() == [], server.log()[-5000:]
