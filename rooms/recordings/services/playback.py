"""Opening a recording's media to play or download it, in the access log.

A player seeks with many Range requests: they are one play. The first request of a viewer for
a recording (per action) writes the entry; later ones within PLAY_COALESCE_SECONDS of the
previous one only extend that window (kept in the cache). If the cache fails, every request
is logged: an entry too many is better than a play unlogged.
"""

import logging

from django.core.cache import cache

from clinic.errors import ConflictError
from rooms.recordings.encryption import DecryptedFile, open_decrypted
from rooms.recordings.models import Recording
from rooms.recordings.selectors import recording_get
from rooms.recordings.storage import media_context
from visits.models import AccessLogEntry, User
from visits.services import record_access

logger = logging.getLogger(__name__)

PLAY_COALESCE_SECONDS = 10 * 60
What, Action = AccessLogEntry.What, AccessLogEntry.Action


def recording_record_label(recording: Recording) -> str:
    """How the access log names a recording (its `record` field)."""
    return f"{Recording._meta.label_lower} {recording.pk}"


def recording_media_open(
    *, user: User, recording_id, download: bool, channel: str, address: str = ""
) -> tuple[Recording, DecryptedFile]:
    """The recording and its decrypted media, for someone who may see it (the selector's
    refusals otherwise), logged as a play or a download. ConflictError while it is not ready
    (still recording, processing, or failed)."""
    recording = recording_get(user=user, recording_id=recording_id)
    if recording.status != Recording.Status.READY or not recording.media_name:
        raise ConflictError(
            f"This recording is not ready to play ({recording.get_status_display().lower()})."
        )
    media = open_decrypted(recording.media_name, context=media_context(recording.id))
    recording_access_coalesced(
        user=user,
        recording=recording,
        action=Action.DOWNLOAD if download else Action.PLAY,
        channel=channel,
        address=address,
    )
    return recording, media


def recording_access_coalesced(
    *, user: User, recording: Recording, action: str, channel: str, address: str = ""
) -> AccessLogEntry | None:
    """Log `action` unless this viewer did it to this recording less than
    PLAY_COALESCE_SECONDS ago; returns the entry written, None when coalesced."""
    key = f"recordings:access:{action}:{user.pk}:{recording.pk}"
    try:
        first = cache.add(key, 1, timeout=PLAY_COALESCE_SECONDS)
        if not first:
            cache.touch(key, timeout=PLAY_COALESCE_SECONDS)
    except Exception:  # any cache failure: log rather than risk an unlogged play
        logger.warning("Cache unavailable; logging this recording access", exc_info=True)
        first = True
    if not first:
        return None
    try:
        return record_access(
            viewer=user,
            what=What.RECORDING,
            action=action,
            channel=channel,
            appointment=recording.appointment,
            record=recording_record_label(recording),
            address=address,
        )
    except BaseException:
        _forget(key)  # not logged: the next request must try again
        raise


def _forget(key: str) -> None:
    try:
        cache.delete(key)
    except Exception:
        logger.warning("Cache unavailable; could not forget %s", key, exc_info=True)
