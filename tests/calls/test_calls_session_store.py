"""The room state's record of Calls sessions, on both backends: the per-person cap holds under
concurrent requests, and forgetting a session forgets what it published."""

import asyncio
import os
import secrets

import pytest

from rooms.state import MemoryRoomStateStore, RedisRoomStateStore

pytestmark = pytest.mark.asyncio


@pytest.fixture(params=["memory", "redis"])
def store(request):
    if request.param == "memory":
        return MemoryRoomStateStore()
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("REDIS_URL is not set")
    return RedisRoomStateStore(url, prefix=f"test:calls-store:{secrets.token_hex(4)}:")


async def test_concurrent_sessions_never_exceed_the_cap(store):
    room = "r1"
    added = await asyncio.gather(
        *(store.calls_session_add_capped(room, f"s{n}", 7, "p7", 4) for n in range(20)),
        *(store.calls_session_add_capped(room, f"d{n}", 8, "p8", 4) for n in range(3)),
    )
    assert sum(added[:20]) == 4 and all(added[20:])
    sessions = await store.calls_sessions(room)
    assert sorted(owner for owner, _ in sessions.values()) == [7] * 4 + [8] * 3
    assert {maker for owner, maker in sessions.values() if owner == 8} == {"p8"}
    await store.clear(room)
    assert await store.calls_sessions(room) == {}


async def test_forgetting_a_session_forgets_its_tracks_and_no_other(store):
    room = "r2"
    for session_id, user_id in (("s1", 1), ("s10", 1), ("s2", 2)):
        assert await store.calls_session_add_capped(room, session_id, user_id, f"p{user_id}", 4)
    await store.calls_tracks_publish(room, "s1", {"0": ("cam", "video"), "1": ("mic", "audio")})
    await store.calls_tracks_publish(room, "s10", {"0": ("cam", "video")})
    await store.calls_tracks_publish(room, "s2", {"0": ("cam", "video")})
    await store.calls_sessions_forget(room, ["s1", "s2"])
    assert await store.calls_session_owner(room, "s1") is None
    assert await store.calls_published(room, "s1") == {}
    assert await store.calls_published(room, "s2") == {}
    # "s10" begins like "s1": still there, with its track.
    assert await store.calls_sessions(room) == {"s10": (1, "p1")}
    assert await store.calls_published(room, "s10") == {"0": ("cam", "video")}
    await store.clear(room)
