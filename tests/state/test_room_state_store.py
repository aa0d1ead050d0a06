"""Both room-state backends keep a room consistent under concurrent joins, leaves and updates."""

import asyncio
import os
import secrets
import time

import pytest
import redis

from rooms.state import MemoryRoomStateStore, Participant, RedisRoomStateStore

# The run's Redis, else the suite's database on the local server (0 is left to an app); the
# keys carry a random prefix.
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/1"
pytestmark = pytest.mark.asyncio


def _redis_available() -> bool:
    try:
        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


@pytest.fixture(params=["memory", "redis"])
def store(request):
    if request.param == "memory":
        return MemoryRoomStateStore()
    if not _redis_available():
        pytest.skip("no Redis at 127.0.0.1:6379")
    return RedisRoomStateStore(REDIS_URL, prefix=f"test:state:{secrets.token_hex(4)}:")


def _participant(user_id: int, **fields) -> Participant:
    return Participant(
        participant_id=fields.pop("participant_id", secrets.token_urlsafe(6)),
        user_id=user_id,
        display_name=f"User {user_id}",
        role=fields.pop("role", "patient"),
        status=fields.pop("status", "waiting"),
        channel_name=f"channel-{user_id}",
        **fields,
    )


async def test_concurrent_joins_and_leaves_lose_and_duplicate_nobody(store):
    room = "r1"
    joining = [_participant(user_id) for user_id in range(60)]
    await asyncio.gather(*(store.add(room, p, time.time()) for p in joining))
    leaving = joining[::3]
    await asyncio.gather(*(store.remove(room, p.participant_id) for p in leaving))
    present = await store.participants(room)
    expected = {p.participant_id for p in joining} - {p.participant_id for p in leaving}
    assert sorted(p.participant_id for p in present) == sorted(expected)
    await store.clear(room)


async def test_one_user_racing_several_connections_ends_up_once(store):
    room = "r2"
    connections = [_participant(7) for _ in range(10)]
    results = await asyncio.gather(*(store.add(room, p, time.time()) for p in connections))
    present = await store.participants(room)
    assert len(present) == 1
    # Every connection but the survivor was reported as replaced exactly once.
    replaced = [p.participant_id for batch in results for p in batch]
    assert sorted([*replaced, present[0].participant_id]) == sorted(
        p.participant_id for p in connections
    )
    await store.clear(room)


async def test_concurrent_updates_of_one_entry_keep_every_field(store):
    room = "r3"
    entry = _participant(1, role="patient")
    await store.add(room, entry, time.time())
    await asyncio.gather(
        store.update(room, entry.participant_id, status="admitted"),
        store.update(room, entry.participant_id, audio=True),
        store.update(room, entry.participant_id, video=True),
        store.update(room, entry.participant_id, session_id="s", tracks=[]),
    )
    stored = await store.get(room, entry.participant_id)
    assert (stored.status, stored.audio, stored.video, stored.session_id, stored.tracks) == (
        "admitted",
        True,
        True,
        "s",
        [],
    )
    assert await store.update(room, "nobody", audio=True) is None
    await store.clear(room)


async def test_silence_admission_and_clearing(store):
    room = "r4"
    quiet, chatty = _participant(1), _participant(2)
    await store.add(room, quiet, time.time() - 100)
    await store.add(room, chatty, time.time() - 100)
    await store.touch(room, chatty.participant_id, time.time())
    assert await store.silent_since(room, time.time() - 30) == [quiet.participant_id]
    await store.admit_user(room, 2)
    assert await store.is_admitted(room, 2) and not await store.is_admitted(room, 1)
    await store.revoke_user(room, 2)
    assert not await store.is_admitted(room, 2)
    await store.clear(room)
    assert await store.participants(room) == []
