"""The room state's record of Calls sessions, on both backends: the per-person cap holds under
concurrent requests, and forgetting a session forgets what it published."""

import asyncio
import os
import secrets

import pytest

from rooms.state import MemoryRoomStateStore, Participant, RedisRoomStateStore

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


async def test_a_snapshot_reads_what_the_single_reads_read(store):
    # What the proxy checks a request against (rooms.calls.rules.calls_caller), in one step.
    room = "r3"
    member = Participant(
        participant_id="p1", user_id=1, display_name="Dr", role="doctor", status="admitted",
        channel_name="c1",
    )  # fmt: skip
    await store.add(room, member, 0.0)
    for session_id, user_id in (("s1", 1), ("s10", 1), ("s2", 2)):
        assert await store.calls_session_add_capped(room, session_id, user_id, f"p{user_id}", 4)
    await store.calls_tracks_publish(room, "s1", {"0": ("cam", "video"), "1": ("mic", "audio")})
    await store.calls_tracks_publish(room, "s10", {"0": ("screen", "video")})

    snapshot = await store.calls_snapshot(room, ["s1", "gone"], published=True, sessions=True)
    assert snapshot.participants == await store.participants(room)
    assert snapshot.owners == {"s1": 1, "gone": None}
    # "s10" begins like "s1": not among s1's tracks.
    assert snapshot.published == {
        "s1": await store.calls_published(room, "s1"),
        "gone": {},
    } and snapshot.published["s1"] == {"0": ("cam", "video"), "1": ("mic", "audio")}
    assert snapshot.sessions == await store.calls_sessions(room)

    bare = await store.calls_snapshot(room, ["s2"])
    assert (bare.owners, bare.published, bare.sessions) == ({"s2": 2}, {}, None)
    nothing_named = await store.calls_snapshot("empty-room", [])
    assert (nothing_named.participants, nothing_named.owners) == ([], {})
    await store.clear(room)
