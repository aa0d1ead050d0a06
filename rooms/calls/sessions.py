"""Closing people's Cloudflare Calls sessions when the room is done with them.

The Calls API has no call that deletes a session: a session is closed by force-closing every
track it has (`PUT .../tracks/close`, `force: true`, the mids from `GET /sessions/{id}`), which
stops what it publishes and what it pulls. The room state forgets the session first, in the
same await as the room rule that decided it, so the proxy refuses it from that moment on; the
requests to Calls then run on a worker thread, so a slow or failing Calls never holds up
`remove` or `end` (a failure is logged, the session stays forgotten).
"""

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures

from django.conf import settings

from clinic.integrations.cloudflare.calls_client import (
    MAX_TRACKS_PER_CALL,
    CallsError,
    get_calls_client,
)
from rooms.state import get_room_state_store

logger = logging.getLogger(__name__)

_closer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="calls-close")
_closing: set[Future] = set()


async def close_sessions(room: str, session_ids: list[str]) -> None:
    """Forget the sessions (the proxy refuses them at once), then close them at Calls."""
    if not session_ids:
        return
    await get_room_state_store().calls_sessions_forget(room, session_ids)
    if not settings.CALLS_APP_ID:
        return
    future = _closer.submit(_close_at_calls, list(session_ids))
    _closing.add(future)
    future.add_done_callback(_closing.discard)


async def close_sessions_of(room: str, user_id: int | None = None) -> list[str]:
    """Close every session `user_id` holds in the room (everyone's, without a user)."""
    sessions = await get_room_state_store().calls_sessions(room)
    chosen = [sid for sid, (owner, _) in sessions.items() if user_id in (None, owner)]
    await close_sessions(room, chosen)
    return chosen


def wait_until_closed(timeout: float) -> bool:
    """Wait for the closings under way (tests, orderly shutdown); False if some still run."""
    _, still_running = wait_for_futures(list(_closing), timeout=timeout)
    return not still_running


def _close_at_calls(session_ids: list[str]) -> None:
    client = get_calls_client()
    for session_id in session_ids:
        try:
            _close_session(client, session_id)
        except CallsError as error:
            # Gone already (expired, its connection closed) or Calls is down: nothing to undo,
            # and the proxy refuses the session regardless.
            logger.warning("Calls session %s not closed: %s", session_id, error)
        except Exception:
            logger.exception("Calls session %s not closed", session_id)


def _close_session(client, session_id: str) -> None:
    state = client.session_state(session_id)
    mids = [
        track["mid"]
        for track in state.tracks
        if track.get("mid") and track.get("status") != "inactive"
    ]
    for start in range(0, len(mids), MAX_TRACKS_PER_CALL):
        result = client.close_tracks(
            session_id, mids[start : start + MAX_TRACKS_PER_CALL], force=True
        )
        for track in result.tracks:
            # close_track_error: already closed meanwhile, which is what we wanted.
            if track.error and track.error.code != "close_track_error":
                logger.warning(
                    "Calls session %s: track %s not closed: %s", session_id, track.mid, track.error
                )
    logger.info("Calls session %s closed (%d tracks)", session_id, len(mids))
