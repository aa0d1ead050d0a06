"""Storing the chunks the doctor's browser uploads while a recording is on.

A chunk is idempotent by its sequence number: the same bytes again are acknowledged and not
stored twice (the browser retries until it hears back), other bytes under a stored number are
a conflict. Chunks may arrive in any order; finalising joins them by number. Once the recording
is stopped and every chunk up to the recorder's last is here, it is finalised at once.
"""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clinic.errors import (
    ApplicationError,
    ConflictError,
    NotFoundError,
    NotSignedInError,
    PayloadTooLargeError,
    PermissionDeniedError,
)
from rooms.recordings.encryption import delete_stored, write_encrypted
from rooms.recordings.models import Recording, RecordingChunk
from rooms.recordings.selectors import NO_SUCH_RECORDING, recording_chunks_complete
from rooms.recordings.storage import chunk_context, chunk_name
from rooms.recordings.tasks import schedule_finalise
from visits.models import User
from visits.selectors import Capability, appointment_require, user_is_signed_in

# Chunk numbers fit the file names' six digits: two-second chunks for over three weeks.
SEQ_LIMIT = 1_000_000
NOT_ACCEPTING = "This recording is not taking chunks any more."
DIFFERENT_BYTES = "Chunk {seq} is already stored with other bytes."
# Why a recording in another status takes no chunks, in words the doctor's page can show.
NOT_RECORDING_BECAUSE = {
    Recording.Status.PENDING: "This recording has not started: not everyone has allowed it.",
    Recording.Status.DECLINED: "This recording was declined: nothing is recorded.",
}


def recording_chunk_put(
    *, user: User, recording_id, seq: int, data: bytes, last: bool = False
) -> tuple[RecordingChunk, bool]:
    """Store chunk `seq` of the recording for the doctor who is recording it; `last` marks the
    recorder's final chunk. Returns the chunk and whether it was new (False: the same bytes
    were already stored, and nothing was written).

    Refusals: NotFoundError for a recording the user may not see (or none), PermissionDenied
    for one they see but do not record, PayloadTooLarge over RECORDING_CHUNK_MAX_BYTES,
    ConflictError for other bytes under a stored seq, a seq after the last one, or a
    recording that is not taking chunks (not recording, or stopped longer ago than the
    upload grace)."""
    if not user_is_signed_in(user):
        raise NotSignedInError("Sign in first.")
    if not 0 <= seq < SEQ_LIMIT:
        raise ApplicationError(f"A chunk's number is from 0 to {SEQ_LIMIT - 1}.", field="seq")
    digest = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        # The recording's row lock orders this chunk against its other chunks (a retry racing
        # the original) and against stopping it.
        recording = (
            Recording.objects.select_for_update(of=("self",))
            .select_related("appointment__doctor", "appointment__patient")
            .filter(pk=recording_id)
            .first()
        )
        if recording is None:
            raise NotFoundError(NO_SUCH_RECORDING)
        _require_recorder(user, recording)
        if len(data) > settings.RECORDING_CHUNK_MAX_BYTES:
            raise PayloadTooLargeError(
                f"A chunk is at most {settings.RECORDING_CHUNK_MAX_BYTES} bytes."
            )
        stored = recording.chunks.filter(seq=seq).first()
        if stored is not None:
            if stored.sha256 != digest:
                raise ConflictError(DIFFERENT_BYTES.format(seq=seq))
            return stored, False  # a retry of what is stored: acknowledged, nothing written
        now = timezone.now()
        _require_accepting(recording, seq=seq, last=last, now=now)
        chunk = _store(recording, seq=seq, data=data, digest=digest, last=last, now=now)
        if recording.ended_at is not None and recording_chunks_complete(recording=recording):
            transaction.on_commit(lambda: schedule_finalise(recording.id))
    return chunk, True


def _require_recorder(user: User, recording: Recording) -> None:
    """The visit's doctor who asked for this recording; the access rule's refusal otherwise
    (a stranger is told the recording does not exist)."""
    try:
        appointment_require(
            user=user, appointment=recording.appointment, capability=Capability.RECORD
        )
    except NotFoundError as refusal:
        raise NotFoundError(NO_SUCH_RECORDING) from refusal
    if recording.requested_by_id != user.id:
        raise PermissionDeniedError("Only the doctor recording it uploads its chunks.")


def _require_accepting(recording: Recording, *, seq: int, last: bool, now) -> None:
    if recording.status != Recording.Status.RECORDING:
        raise ConflictError(NOT_RECORDING_BECAUSE.get(recording.status, NOT_ACCEPTING))
    grace = timedelta(seconds=settings.RECORDING_UPLOAD_GRACE_SECONDS)
    if recording.ended_at is not None and now - recording.ended_at > grace:
        raise ConflictError(NOT_ACCEPTING + " It was stopped and its upload time is over.")
    if recording.last_seq is not None:
        if seq > recording.last_seq:
            raise ConflictError(f"Chunk {recording.last_seq} was the recording's last.")
        if last and seq != recording.last_seq:
            raise ConflictError(f"Chunk {recording.last_seq} is already the recording's last.")
    elif last and recording.chunks.filter(seq__gt=seq).exists():
        raise ConflictError(f"Chunks after {seq} are stored: it cannot be the last.")


def _store(
    recording: Recording, *, seq: int, data: bytes, digest: str, last: bool, now
) -> RecordingChunk:
    """Write the chunk's file and its row. If anything after the write fails the file goes
    too; a failed commit can still leave one, which the retry does not reuse (it is written
    under another name) and the recording's deletion removes with its folder."""
    stored = write_encrypted(
        chunk_name(recording.id, seq), [data], context=chunk_context(recording.id, seq)
    )
    try:
        chunk = RecordingChunk.objects.create(
            recording=recording,
            seq=seq,
            size_bytes=stored.size,
            sha256=digest,
            storage_name=stored.name,
        )
        recording.last_chunk_at = now
        fields = ["last_chunk_at"]
        if last:
            recording.last_seq = seq
            fields.append("last_seq")
        recording.save(update_fields=fields)
    except BaseException:
        delete_stored(stored.name)
        raise
    return chunk
