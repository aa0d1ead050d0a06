"""Where a visit room's live state lives: who is in it, their media, who was let in.

Redis when REDIS_URL is set, so every Daphne process sees the same room; process memory in the
embedded single-process default. Every operation is atomic on its own (one Redis command or
script), so concurrent joins, leaves and updates never lose or duplicate a participant.
"""

import asyncio
import json
import time
import weakref
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from django.conf import settings

WAITING, ADMITTED = "waiting", "admitted"


@dataclass
class Participant:
    participant_id: str
    user_id: int
    display_name: str
    role: str  # "doctor" | "patient"
    status: str  # WAITING | ADMITTED
    channel_name: str
    audio: bool = False
    video: bool = False
    screen: bool = False
    session_id: str | None = None
    tracks: list[dict[str, str]] = field(default_factory=list)
    joined_at: float = field(default_factory=time.time)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> "Participant":
        data = json.loads(raw)
        # Lua's cjson writes an empty list as {}; read it back as the list it was.
        if not isinstance(data.get("tracks"), list):
            data["tracks"] = []
        return cls(**data)


@dataclass(frozen=True)
class CallsSnapshot:
    """What the Calls proxy checks a request against, read in one step (rooms.calls.rules)."""

    participants: list[Participant]
    owners: dict[str, int | None]  # owner user id of each session asked about
    # The published tracks of each session asked about, when asked: {session: {mid: (name, kind)}}
    published: dict[str, dict[str, tuple[str, str]]]
    # Every Calls session of the room, when asked: {session: (owner, maker participant id)}
    sessions: dict[str, tuple[int, str | None]] | None


class RoomStateStore(Protocol):
    async def add(self, room: str, participant: Participant, now: float) -> list[Participant]:
        """Add `participant`, removing (and returning) entries of the same user in the same
        step, so a person is in a room at most once however their connections race."""

    async def get(self, room: str, participant_id: str) -> Participant | None: ...
    async def update(
        self, room: str, participant_id: str, **changes: Any
    ) -> Participant | None: ...
    async def remove(self, room: str, participant_id: str) -> bool: ...
    async def participants(self, room: str) -> list[Participant]: ...
    async def version(self, room: str) -> int: ...
    async def bump_version(self, room: str) -> int: ...
    async def participants_versioned(self, room: str) -> tuple[int, list[Participant]]:
        """The version (bump_version's count of announced changes) and the participants, read
        in one atomic step."""

    async def touch(self, room: str, participant_id: str, now: float) -> None: ...
    async def silent_since(self, room: str, cutoff: float) -> list[str]: ...
    async def admit_user(self, room: str, user_id: int) -> None: ...
    async def revoke_user(self, room: str, user_id: int) -> None: ...
    async def is_admitted(self, room: str, user_id: int) -> bool: ...
    async def calls_session_add(self, room: str, session_id: str, user_id: int) -> None: ...
    async def calls_session_owner(self, room: str, session_id: str) -> int | None: ...
    async def calls_tracks_publish(
        self, room: str, session_id: str, tracks: dict[str, tuple[str, str]]
    ) -> None:
        """Record published tracks: {mid: (track name, kind)}."""

    async def calls_tracks_unpublish(self, room: str, session_id: str, mids: list[str]) -> None: ...
    async def calls_published(self, room: str, session_id: str) -> dict[str, tuple[str, str]]:
        """The session's published tracks: {mid: (track name, kind)}."""

    async def expire(self, room: str, seconds: int) -> None: ...
    async def clear(self, room: str) -> None: ...
    async def calls_sessions(self, room: str) -> dict[str, tuple[int, str | None]]:
        """Every Calls session made through us in the room: {session id: (owner user id, the
        participant id (connection) that made it, when known)}."""

    async def calls_session_add_capped(
        self, room: str, session_id: str, user_id: int, participant_id: str, cap: int
    ) -> bool:
        """Record the session unless its owner already holds `cap` in the room; in one step."""

    async def calls_sessions_forget(self, room: str, session_ids: list[str]) -> None:
        """Forget sessions and what they published: the proxy refuses them from now on."""

    async def calls_snapshot(
        self,
        room: str,
        session_ids: list[str],
        *,
        published: bool = False,
        sessions: bool = False,
    ) -> CallsSnapshot:
        """The room's participants and the owners of `session_ids` (with what those sessions
        published, and every session of the room, when asked), in one read: one Redis round
        trip, whatever a proxy request names."""


class MemoryRoomStateStore:
    """One process only: no await inside an operation, so each is atomic on the event loop."""

    def __init__(self) -> None:
        self._participants: dict[str, dict[str, Participant]] = {}
        self._seen: dict[str, dict[str, float]] = {}
        self._admitted: dict[str, set[int]] = {}
        self._calls_sessions: dict[str, dict[str, int]] = {}
        self._calls_tracks: dict[str, dict[str, dict[str, tuple[str, str]]]] = {}
        self._calls_makers: dict[str, dict[str, str]] = {}
        self._versions: dict[str, int] = {}

    async def add(self, room, participant, now):
        members = self._participants.setdefault(room, {})
        seen = self._seen.setdefault(room, {})
        replaced = [p for p in members.values() if p.user_id == participant.user_id]
        for earlier in replaced:
            members.pop(earlier.participant_id)
            seen.pop(earlier.participant_id, None)
        members[participant.participant_id] = participant
        seen[participant.participant_id] = now
        return replaced

    async def get(self, room, participant_id):
        found = self._participants.get(room, {}).get(participant_id)
        return Participant(**asdict(found)) if found else None

    async def update(self, room, participant_id, **changes):
        found = self._participants.get(room, {}).get(participant_id)
        if found is None:
            return None
        for name, value in changes.items():
            setattr(found, name, value)
        return Participant(**asdict(found))

    async def remove(self, room, participant_id):
        self._seen.get(room, {}).pop(participant_id, None)
        return self._participants.get(room, {}).pop(participant_id, None) is not None

    async def participants(self, room):
        return [Participant(**asdict(p)) for p in self._participants.get(room, {}).values()]

    async def version(self, room):
        return self._versions.get(room, 0)

    async def bump_version(self, room):
        self._versions[room] = self._versions.get(room, 0) + 1
        return self._versions[room]

    async def participants_versioned(self, room):
        return self._versions.get(room, 0), await self.participants(room)

    async def touch(self, room, participant_id, now):
        if participant_id in self._participants.get(room, {}):
            self._seen.setdefault(room, {})[participant_id] = now

    async def silent_since(self, room, cutoff):
        return [pid for pid, seen in self._seen.get(room, {}).items() if seen < cutoff]

    async def admit_user(self, room, user_id):
        self._admitted.setdefault(room, set()).add(user_id)

    async def revoke_user(self, room, user_id):
        self._admitted.get(room, set()).discard(user_id)

    async def is_admitted(self, room, user_id):
        return user_id in self._admitted.get(room, set())

    async def calls_session_add(self, room, session_id, user_id):
        self._calls_sessions.setdefault(room, {})[session_id] = user_id

    async def calls_session_owner(self, room, session_id):
        return self._calls_sessions.get(room, {}).get(session_id)

    async def calls_tracks_publish(self, room, session_id, tracks):
        self._calls_tracks.setdefault(room, {}).setdefault(session_id, {}).update(tracks)

    async def calls_tracks_unpublish(self, room, session_id, mids):
        published = self._calls_tracks.get(room, {}).get(session_id, {})
        for mid in mids:
            published.pop(mid, None)

    async def calls_published(self, room, session_id):
        return dict(self._calls_tracks.get(room, {}).get(session_id, {}))

    async def expire(self, room, seconds):
        """Memory is freed when the room is cleared; nothing outlives the process anyway."""

    async def clear(self, room):
        stores = (
            self._participants,
            self._seen,
            self._admitted,
            self._calls_sessions,
            self._calls_tracks,
            self._calls_makers,
            self._versions,
        )
        for store in stores:
            store.pop(room, None)

    async def calls_sessions(self, room):
        makers = self._calls_makers.get(room, {})
        return {
            session_id: (owner, makers.get(session_id))
            for session_id, owner in self._calls_sessions.get(room, {}).items()
        }

    async def calls_session_add_capped(self, room, session_id, user_id, participant_id, cap):
        sessions = self._calls_sessions.setdefault(room, {})
        if sum(owner == user_id for owner in sessions.values()) >= cap:
            return False
        sessions[session_id] = user_id
        self._calls_makers.setdefault(room, {})[session_id] = participant_id
        return True

    async def calls_sessions_forget(self, room, session_ids):
        for session_id in session_ids:
            for store in (self._calls_sessions, self._calls_tracks, self._calls_makers):
                store.get(room, {}).pop(session_id, None)

    async def calls_snapshot(self, room, session_ids, *, published=False, sessions=False):
        owners = self._calls_sessions.get(room, {})
        tracks = self._calls_tracks.get(room, {})
        return CallsSnapshot(
            participants=await self.participants(room),
            owners={session_id: owners.get(session_id) for session_id in session_ids},
            published=(
                {session_id: dict(tracks.get(session_id, {})) for session_id in session_ids}
                if published
                else {}
            ),
            sessions=await self.calls_sessions(room) if sessions else None,
        )


# Add a participant and drop the same user's earlier entries, in one atomic step.
_ADD_SCRIPT = """
local replaced = {}
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  if cjson.decode(entries[i + 1])['user_id'] == tonumber(ARGV[3]) then
    redis.call('HDEL', KEYS[1], entries[i])
    redis.call('HDEL', KEYS[2], entries[i])
    table.insert(replaced, entries[i + 1])
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
return replaced
"""

# Merge a JSON object of changes into one participant's JSON entry, in one atomic step.
_MERGE_SCRIPT = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local entry = cjson.decode(raw)
for key, value in pairs(cjson.decode(ARGV[2])) do entry[key] = value end
local merged = cjson.encode(entry)
redis.call('HSET', KEYS[1], ARGV[1], merged)
return merged
"""


# Record a Calls session unless its owner already holds ARGV[3] sessions, in one atomic step.
_ADD_CAPPED_SCRIPT = """
local held = 0
for _, owner in ipairs(redis.call('HVALS', KEYS[1])) do
  if owner == ARGV[2] then held = held + 1 end
end
if held >= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""

# Forget Calls sessions (ARGV) and every track they published, in one atomic step.
_FORGET_SESSIONS_SCRIPT = """
local forgotten = {}
for _, session in ipairs(ARGV) do
  redis.call('HDEL', KEYS[1], session)
  redis.call('HDEL', KEYS[3], session)
  forgotten[session .. '/'] = true
end
for _, key in ipairs(redis.call('HKEYS', KEYS[2])) do
  local slash = string.find(key, '/', 1, true)
  if slash and forgotten[string.sub(key, 1, slash)] then redis.call('HDEL', KEYS[2], key) end
end
return 1
"""


class RedisRoomStateStore:
    """Shared by every server process. Per room: a hash of participants (JSON), a hash of
    last-seen times, and a set of admitted user ids; all expire with the room."""

    def __init__(self, url: str, prefix: str) -> None:
        self._url = url
        self._prefix = prefix
        # redis.asyncio clients belong to the event loop that made them.
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _client(self):
        import redis.asyncio as redis

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            # A burst of joins waits for a free connection instead of failing.
            pool = redis.BlockingConnectionPool.from_url(
                self._url, max_connections=settings.ROOM_STATE_REDIS_CONNECTIONS, timeout=10
            )
            client = redis.Redis(connection_pool=pool)
            self._clients[loop] = client
        return client

    def _keys(self, room: str) -> tuple[str, str, str]:
        base = f"{self._prefix}{room}"
        return f"{base}:participants", f"{base}:seen", f"{base}:admitted"

    def _calls_keys(self, room: str) -> tuple[str, str]:
        base = f"{self._prefix}{room}"
        # sessions: session id -> owner user id; tracks: "<session>/<mid>" -> [name, kind]
        return f"{base}:calls-sessions", f"{base}:calls-tracks"

    async def add(self, room, participant, now):
        participants, seen, _ = self._keys(room)
        replaced = await self._client().eval(
            _ADD_SCRIPT,
            2,
            participants,
            seen,
            participant.participant_id,
            participant.to_json(),
            participant.user_id,
            repr(now),
        )
        return [Participant.from_json(raw) for raw in replaced]

    async def get(self, room, participant_id):
        raw = await self._client().hget(self._keys(room)[0], participant_id)
        return Participant.from_json(raw) if raw else None

    async def update(self, room, participant_id, **changes):
        merged = await self._client().eval(
            _MERGE_SCRIPT, 1, self._keys(room)[0], participant_id, json.dumps(changes)
        )
        return Participant.from_json(merged) if merged else None

    async def remove(self, room, participant_id):
        participants, seen, _ = self._keys(room)
        async with self._client().pipeline(transaction=True) as pipe:
            pipe.hdel(participants, participant_id)
            pipe.hdel(seen, participant_id)
            removed, _ = await pipe.execute()
        return bool(removed)

    async def participants(self, room):
        entries = await self._client().hvals(self._keys(room)[0])
        return [Participant.from_json(raw) for raw in entries]

    def _version_key(self, room: str) -> str:
        # How many changes were announced to the room (services.broadcast_changed, chat).
        return f"{self._prefix}{room}:version"

    async def version(self, room):
        return int(await self._client().get(self._version_key(room)) or 0)

    async def bump_version(self, room):
        return await self._client().incr(self._version_key(room))

    async def participants_versioned(self, room):
        async with self._client().pipeline(transaction=True) as pipe:
            pipe.get(self._version_key(room))
            pipe.hvals(self._keys(room)[0])
            version, entries = await pipe.execute()
        return int(version or 0), [Participant.from_json(raw) for raw in entries]

    async def touch(self, room, participant_id, now):
        participants, seen, _ = self._keys(room)
        if await self._client().hexists(participants, participant_id):
            await self._client().hset(seen, participant_id, now)

    async def silent_since(self, room, cutoff):
        seen = await self._client().hgetall(self._keys(room)[1])
        return [pid.decode() for pid, at in seen.items() if float(at) < cutoff]

    async def admit_user(self, room, user_id):
        await self._client().sadd(self._keys(room)[2], user_id)

    async def revoke_user(self, room, user_id):
        await self._client().srem(self._keys(room)[2], user_id)

    async def is_admitted(self, room, user_id):
        return bool(await self._client().sismember(self._keys(room)[2], user_id))

    async def calls_session_add(self, room, session_id, user_id):
        await self._client().hset(self._calls_keys(room)[0], session_id, user_id)

    async def calls_session_owner(self, room, session_id):
        owner = await self._client().hget(self._calls_keys(room)[0], session_id)
        return int(owner) if owner is not None else None

    async def calls_tracks_publish(self, room, session_id, tracks):
        if tracks:
            await self._client().hset(
                self._calls_keys(room)[1],
                mapping={f"{session_id}/{mid}": json.dumps(entry) for mid, entry in tracks.items()},
            )

    async def calls_tracks_unpublish(self, room, session_id, mids):
        if mids:
            await self._client().hdel(
                self._calls_keys(room)[1], *(f"{session_id}/{mid}" for mid in mids)
            )

    async def calls_published(self, room, session_id):
        entries = await self._client().hgetall(self._calls_keys(room)[1])
        prefix = f"{session_id}/"
        return {
            key.decode().removeprefix(prefix): tuple(json.loads(value))
            for key, value in entries.items()
            if key.decode().startswith(prefix)
        }

    def _all_keys(self, room: str) -> tuple[str, ...]:
        return (
            *self._keys(room),
            *self._calls_keys(room),
            self._calls_makers_key(room),
            self._version_key(room),
        )

    async def expire(self, room, seconds):
        async with self._client().pipeline(transaction=True) as pipe:
            for key in self._all_keys(room):
                pipe.expire(key, seconds)
            await pipe.execute()

    async def clear(self, room):
        await self._client().delete(*self._all_keys(room))

    def _calls_makers_key(self, room: str) -> str:
        # session id -> the participant id (connection) that made it
        return f"{self._prefix}{room}:calls-makers"

    async def calls_sessions(self, room):
        sessions_key = self._calls_keys(room)[0]
        async with self._client().pipeline(transaction=True) as pipe:
            pipe.hgetall(sessions_key)
            pipe.hgetall(self._calls_makers_key(room))
            owners, makers = await pipe.execute()
        return {
            session.decode(): (int(owner), (makers.get(session) or b"").decode() or None)
            for session, owner in owners.items()
        }

    async def calls_session_add_capped(self, room, session_id, user_id, participant_id, cap):
        added = await self._client().eval(
            _ADD_CAPPED_SCRIPT,
            2,
            self._calls_keys(room)[0],
            self._calls_makers_key(room),
            session_id,
            str(user_id),
            participant_id,
            cap,
        )
        return bool(added)

    async def calls_sessions_forget(self, room, session_ids):
        if session_ids:
            await self._client().eval(
                _FORGET_SESSIONS_SCRIPT,
                3,
                *self._calls_keys(room),
                self._calls_makers_key(room),
                *session_ids,
            )

    async def calls_snapshot(self, room, session_ids, *, published=False, sessions=False):
        sessions_key, tracks_key = self._calls_keys(room)
        async with self._client().pipeline(transaction=True) as pipe:  # one consistent read
            pipe.hvals(self._keys(room)[0])
            if session_ids:
                pipe.hmget(sessions_key, session_ids)
            if published:
                pipe.hgetall(tracks_key)
            if sessions:
                pipe.hgetall(sessions_key)
                pipe.hgetall(self._calls_makers_key(room))
            replies = iter(await pipe.execute())
        participants = [Participant.from_json(raw) for raw in next(replies)]
        owned = next(replies) if session_ids else []
        owners = {
            session_id: int(owner) if owner is not None else None
            for session_id, owner in zip(session_ids, owned, strict=True)
        }
        by_session: dict[str, dict[str, tuple[str, str]]] = {}
        if published:
            entries = {key.decode(): value for key, value in next(replies).items()}
            for session_id in session_ids:
                prefix = f"{session_id}/"
                by_session[session_id] = {
                    key.removeprefix(prefix): tuple(json.loads(value))
                    for key, value in entries.items()
                    if key.startswith(prefix)
                }
        every_session = None
        if sessions:
            owner_of, maker_of = next(replies), next(replies)
            every_session = {
                session.decode(): (int(owner), (maker_of.get(session) or b"").decode() or None)
                for session, owner in owner_of.items()
            }
        return CallsSnapshot(participants, owners, by_session, every_session)


_store: RoomStateStore | None = None


def get_room_state_store() -> RoomStateStore:
    global _store
    if _store is None:
        if settings.REDIS_URL:
            _store = RedisRoomStateStore(settings.REDIS_URL, settings.ROOM_STATE_KEY_PREFIX)
        else:
            _store = MemoryRoomStateStore()
    return _store


def reset_room_state_store() -> None:
    """Forget the store (tests switch settings between backends)."""
    global _store
    _store = None
