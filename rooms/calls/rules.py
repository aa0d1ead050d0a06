"""The rules of the room-scoped Cloudflare Calls proxy.

The browser never holds the app secret: it asks us, and we ask Calls only after checking the
request against the room state. The caller must be an admitted participant of the room; a
session id must be one this person created in this room (and not yet closed by the room: see
rooms.calls.sessions); a remote track must be one that an admitted participant of the same room
published through us, and every track that names another session is a remote one. Each person
holds at most CALLS_MAX_SESSIONS_PER_PARTICIPANT sessions in a room. Anything else is refused
before Calls is reached.
"""

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings

from clinic.errors import (
    ApplicationError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
)
from clinic.integrations.cloudflare.calls_client import (
    CallsConfigurationError,
    CallsError,
    CallsUnavailableError,
    SessionDescription,
    TracksResult,
    get_calls_client,
)
from rooms.calls.sessions import close_sessions
from rooms.selectors import RoomAccess, room_access_get
from rooms.services import STATE_GRACE_SECONDS, broadcast_changed
from rooms.state import ADMITTED, CallsSnapshot, Participant, get_room_state_store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallsCaller:
    access: RoomAccess
    participant: Participant
    # The room state the request is checked against, read once with the caller.
    snapshot: CallsSnapshot


def _store():
    return get_room_state_store()


def _sessions_to_check(tracks: Sequence[dict]) -> list[str]:
    """The sessions named by tracks to pull (see _require_tracks_allowed): their owners and
    what they published are read with the caller."""
    return [
        track.get("sessionId", "")
        for track in tracks
        if track.get("sessionId") or track.get("location") == "remote"
    ]


def calls_caller(
    *,
    user,
    room_id,
    session_id: str | None = None,
    tracks: Sequence[dict] = (),
    sessions: bool = False,
) -> CallsCaller:
    """The admitted participant behind a proxy request, or the refusal to send back: the room's
    access rule's (rooms.selectors.room_access_get: not signed in, no such room, not yours,
    not open), then the room state's (not joined, not admitted).

    The room state the later checks need is read here, in one step (one hop to the event loop,
    one Redis round trip): the owner of `session_id`, the owners and published tracks of the
    sessions that `tracks` pull from, and every session of the room with `sessions` (the cap)."""
    if not settings.CALLS_APP_ID:
        raise NotFoundError("This clinic uses peer-to-peer video; Cloudflare Calls is off.")
    access = room_access_get(user=user, room_id=room_id)
    pulled = _sessions_to_check(tracks)
    named = list(dict.fromkeys([session_id, *pulled] if session_id is not None else pulled))
    snapshot = async_to_sync(_store().calls_snapshot)(
        access.room, named, published=bool(pulled), sessions=sessions
    )
    me = next((p for p in snapshot.participants if p.user_id == access.user_id), None)
    if me is None:
        raise PermissionDeniedError("Join the visit room first.")
    if me.status != ADMITTED:
        raise PermissionDeniedError("Wait until the doctor lets you in.")
    return CallsCaller(access=access, participant=me, snapshot=snapshot)


def _require_own_session(caller: CallsCaller, session_id: str) -> None:
    # A session not read with the caller has no known owner here: refused, never assumed.
    if caller.snapshot.owners.get(session_id) != caller.access.user_id:
        raise NotFoundError("No such session in this room.")


def _require_pullable(caller: CallsCaller, track: dict[str, Any]) -> None:
    """A remote track must be published, through us, by an admitted member of this room."""
    snapshot, session_id = caller.snapshot, track.get("sessionId", "")
    owner = snapshot.owners.get(session_id)
    owner_admitted = any(p.user_id == owner and p.status == ADMITTED for p in snapshot.participants)
    names = {name for name, _ in snapshot.published.get(session_id, {}).values()}
    if owner is None or not owner_admitted or track.get("trackName") not in names:
        raise PermissionDeniedError(
            f"Track {track.get('trackName')!r} is not published by anyone in this room."
        )


def _calling(call):
    """Run a Calls request, turning its failures into errors for the browser."""
    try:
        return call()
    except CallsConfigurationError as error:
        logger.error("Cloudflare Calls configuration: %s", error.description)
        raise ServiceUnavailableError(
            "The video service is misconfigured; please tell the clinic."
        ) from error
    except CallsUnavailableError as error:
        logger.warning("Cloudflare Calls unavailable: %s", error)
        raise ServiceUnavailableError("The video service is not answering; try again.") from error
    except CallsError as error:
        if error.status == 404:
            raise NotFoundError(f"Calls: {error.description}") from error
        raise ApplicationError(f"Calls refused the request: {error.description}") from error


_MID_LINE = re.compile(r"^a=mid:(\S+)\s*$", re.MULTILINE)
_MEDIA_LINE = re.compile(r"^m=(audio|video|application)\b", re.MULTILINE)


def media_kinds_by_mid(sdp: str) -> dict[str, str]:
    """{mid: "audio" | "video"} for each media section of an SDP."""
    kinds: dict[str, str] = {}
    sections = _MEDIA_LINE.split(sdp)
    # split() with one group yields [preamble, kind, body, kind, body, ...]
    for kind, body in zip(sections[1::2], sections[2::2], strict=False):
        match = _MID_LINE.search(body)
        if match and kind in ("audio", "video"):
            kinds[match.group(1)] = kind
    return kinds


async def _announce_tracks(caller: CallsCaller, session_id: str) -> None:
    """Put the session's published tracks in the caller's room entry and tell the room, so the
    others pull them."""
    store, room = _store(), caller.access.room
    published = await store.calls_published(room, session_id)
    tracks = [{"name": name, "kind": kind} for name, kind in published.values()]
    await store.update(
        room, caller.participant.participant_id, session_id=session_id, tracks=tracks
    )
    await broadcast_changed(caller.access)


async def _keep_with_room(caller: CallsCaller) -> None:
    seconds = int(caller.access.closes_at - time.time()) + STATE_GRACE_SECONDS
    await _store().expire(caller.access.room, max(seconds, 60))


class SessionQuotaError(ApplicationError):
    """The caller already holds as many Calls sessions in this room as anyone may."""

    status_code = 429


def _quota_error() -> SessionQuotaError:
    return SessionQuotaError(
        f"You already hold {settings.CALLS_MAX_SESSIONS_PER_PARTICIPANT} video sessions in this "
        "visit, the most allowed; reload the page to start afresh."
    )


def _make_room_for_a_session(caller: CallsCaller) -> None:
    """At the cap, close the caller's sessions left behind by an earlier page (made on another
    connection and not announced by this one); refuse if that frees nothing."""
    room, me = caller.access.room, caller.participant
    if caller.snapshot.sessions is None:
        raise AssertionError("calls_caller(sessions=True) reads the room's sessions")
    held = {
        session_id: maker
        for session_id, (owner, maker) in caller.snapshot.sessions.items()
        if owner == caller.access.user_id
    }
    if len(held) < settings.CALLS_MAX_SESSIONS_PER_PARTICIPANT:
        return
    left_behind = [
        session_id
        for session_id, maker in held.items()
        if maker != me.participant_id and session_id != me.session_id
    ]
    if len(held) - len(left_behind) >= settings.CALLS_MAX_SESSIONS_PER_PARTICIPANT:
        raise _quota_error()
    async_to_sync(close_sessions)(room, left_behind)


def session_new(caller: CallsCaller, offer: SessionDescription | None) -> dict:
    _make_room_for_a_session(caller)
    result = _calling(lambda: get_calls_client().new_session(offer=offer))
    if not async_to_sync(_record_session)(caller, result.session_id):
        # Concurrent requests raced past the check: this one is refused, and its session, never
        # handed out, expires unused at Calls.
        raise _quota_error()
    return result.raw


async def _record_session(caller: CallsCaller, session_id: str) -> bool:
    added = await _store().calls_session_add_capped(
        caller.access.room,
        session_id,
        caller.access.user_id,
        caller.participant.participant_id,
        settings.CALLS_MAX_SESSIONS_PER_PARTICIPANT,
    )
    if added:
        await _keep_with_room(caller)
    return added


def _require_tracks_allowed(caller: CallsCaller, tracks: list[dict]) -> None:
    """Every track object, before anything reaches Calls: a track that names a session is one
    to pull, and must be pullable; our own tracks name no session."""
    for track in tracks:
        if track.get("sessionId") or track.get("location") == "remote":
            if track.get("location", "remote") != "remote":
                raise PermissionDeniedError(
                    'A track naming another session is a remote one (location "remote").'
                )
            _require_pullable(caller, track)


def tracks_new(
    caller: CallsCaller, session_id: str, tracks: list[dict], offer: SessionDescription | None
) -> dict:
    _require_own_session(caller, session_id)
    _require_tracks_allowed(caller, tracks)
    result: TracksResult = _calling(
        lambda: get_calls_client().new_tracks(session_id, tracks, offer)
    )
    kinds = media_kinds_by_mid(offer.sdp) if offer else {}
    requested = {t.get("trackName"): t for t in tracks if t.get("location") == "local"}
    published = {}
    for track in result.tracks:
        if track.error or track.track_name not in requested or not track.mid:
            continue
        kind = requested[track.track_name].get("kind") or kinds.get(track.mid, "video")
        published[track.mid] = (track.track_name, kind)
    if published:
        async_to_sync(_publish)(caller, session_id, published)
    return result.raw


async def _publish(caller: CallsCaller, session_id: str, published: dict) -> None:
    await _store().calls_tracks_publish(caller.access.room, session_id, published)
    await _keep_with_room(caller)
    await _announce_tracks(caller, session_id)


def renegotiate(caller: CallsCaller, session_id: str, answer: SessionDescription) -> dict:
    _require_own_session(caller, session_id)
    return _calling(lambda: get_calls_client().renegotiate(session_id, answer)).raw


def tracks_close(
    caller: CallsCaller,
    session_id: str,
    mids: list[str],
    offer: SessionDescription | None,
    force: bool,
) -> dict:
    _require_own_session(caller, session_id)
    result = _calling(lambda: get_calls_client().close_tracks(session_id, mids, offer, force=force))
    failed = {track.mid for track in result.tracks if track.error}
    closed = [mid for mid in mids if mid not in failed]
    if closed:
        async_to_sync(_unpublish)(caller, session_id, closed)
    return result.raw


async def _unpublish(caller: CallsCaller, session_id: str, mids: list[str]) -> None:
    await _store().calls_tracks_unpublish(caller.access.room, session_id, mids)
    await _announce_tracks(caller, session_id)


def tracks_update(caller: CallsCaller, session_id: str, tracks: list[dict]) -> dict:
    _require_own_session(caller, session_id)
    for track in tracks:
        if track.get("location", "remote") != "remote":
            raise ApplicationError("Only pulled (remote) tracks can be switched.")
        if ("sessionId" in track) != ("trackName" in track):
            # Without its session, the new track could not be checked: name both, or neither.
            raise ApplicationError("Name the track to play by both sessionId and trackName.")
    _require_tracks_allowed(caller, tracks)
    return _calling(lambda: get_calls_client().update_tracks(session_id, tracks)).raw


def session_state(caller: CallsCaller, session_id: str) -> dict:
    _require_own_session(caller, session_id)
    return _calling(lambda: get_calls_client().session_state(session_id)).raw
