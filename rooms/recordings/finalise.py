"""Finalising a stopped recording: its encrypted chunks become one encrypted, seekable WebM
file (rooms.recordings.remux), run by the worker (rooms.recordings.tasks).

recording (stopped) -> processing -> ready | failed. A clinic wants what was recorded, so a
chunk that never arrived does not fail the recording: what decodes is kept and the gap is noted
in `failure` (on a ready recording, a note; on a failed one, the reason). Only when nothing at
all can be read does it fail, and then no file is written and the chunks are kept.
"""

import logging
import tempfile
from pathlib import Path

import av
from django.db import transaction

from clinic.errors import ApplicationError
from rooms.recordings.encryption import (
    EncryptedFileError,
    StoredFile,
    delete_stored,
    open_decrypted,
    write_encrypted,
)
from rooms.recordings.models import Recording, RecordingChunk
from rooms.recordings.remux import EBML_MAGIC, RemuxError, Run, remux_webm
from rooms.recordings.storage import chunk_context, media_context, media_name
from visits.models import AccessLogEntry
from visits.services import record_access

logger = logging.getLogger(__name__)

MEDIA_TYPE = "video/webm"
GAPS_NOTE = "Finalised with gaps: "
# Failures that are the input's or the setup's (told in `failure`); anything else is also a
# bug, so it is raised on after the recording is marked failed (the task keeps the traceback).
_EXPECTED_FAILURES = (RemuxError, EncryptedFileError, av.error.FFmpegError, ApplicationError)


def recording_finalise(*, recording_id) -> Recording:
    """Finalise a stopped recording; a no-op for any other (not stopped yet, already being
    finalised by another worker, or finished): the first caller claims it."""
    claimed = Recording.objects.filter(
        pk=recording_id, status=Recording.Status.RECORDING, ended_at__isnull=False
    ).update(status=Recording.Status.PROCESSING)
    recording = Recording.objects.select_related("appointment").get(pk=recording_id)
    if not claimed:
        return recording
    chunks = list(RecordingChunk.objects.filter(recording=recording).order_by("seq"))
    stored: StoredFile | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="clinic-recording-") as folder:
            path = Path(folder) / "media.webm"
            result = remux_webm(_runs_of(recording, chunks), path)
            with path.open("rb") as media:
                stored = write_encrypted(
                    media_name(recording.id), media, context=media_context(recording.id)
                )
        notes = _missing_chunks(recording, chunks) + result.notes
        chunk_files = _complete(
            recording, stored, duration_seconds=result.duration_seconds, notes=notes
        )
    except Exception as error:
        if stored is not None:
            delete_stored(stored.name)
        _fail(recording, _reason(error))
        if not isinstance(error, _EXPECTED_FAILURES):
            raise
        logger.warning("Recording %s failed to finalise: %s", recording.id, recording.failure)
        return recording
    _delete_chunk_files(chunk_files)
    return recording


def _runs_of(recording: Recording, chunks: list[RecordingChunk]) -> list[Run]:
    """The chunks as runs of contiguous bytes: a run ends at a missing seq, and a chunk that
    begins with the EBML magic (a new MediaRecorder after a reload) begins a new one."""
    runs: list[list[RecordingChunk]] = []
    begins: list[bool] = []
    previous_seq = None
    for chunk in chunks:
        begins_stream = _first_bytes(recording, chunk) == EBML_MAGIC
        if begins_stream or previous_seq is None or chunk.seq != previous_seq + 1:
            runs.append([])
            begins.append(begins_stream)
        runs[-1].append(chunk)
        previous_seq = chunk.seq
    return [
        Run(
            label=_label(run),
            begins_stream=begins_stream,
            chunks=lambda run=run: _plaintext_of(recording, run),
        )
        for run, begins_stream in zip(runs, begins, strict=True)
    ]


def _first_bytes(recording: Recording, chunk: RecordingChunk) -> bytes:
    stored = open_decrypted(chunk.storage_name, context=chunk_context(recording.id, chunk.seq))
    return b"".join(stored.iter_range(0, len(EBML_MAGIC)))


def _plaintext_of(recording: Recording, chunks: list[RecordingChunk]):
    for chunk in chunks:
        stored = open_decrypted(chunk.storage_name, context=chunk_context(recording.id, chunk.seq))
        yield from stored.iter_all()


def _label(chunks: list[RecordingChunk]) -> str:
    first, last = chunks[0].seq, chunks[-1].seq
    return f"chunk {first}" if first == last else f"chunks {first}-{last}"


def _missing_chunks(recording: Recording, chunks: list[RecordingChunk]) -> list[str]:
    stored = {chunk.seq for chunk in chunks}
    known_last = [] if recording.last_seq is None else [recording.last_seq]
    expected_last = max([*stored, *known_last])
    missing = sorted(set(range(expected_last + 1)) - stored)
    if not missing:
        return []
    return [f"chunks never uploaded: {_ranges(missing)}"]


def _ranges(numbers: list[int]) -> str:
    spans: list[list[int]] = []
    for number in numbers:
        if spans and number == spans[-1][1] + 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def _complete(
    recording: Recording, stored: StoredFile, *, duration_seconds: float, notes: list[str]
) -> list[str]:
    """Record the file; the chunks' rows go with it. Returns the chunk files to delete (any
    chunk that arrived late included)."""
    with transaction.atomic():
        recording.status = Recording.Status.READY
        recording.media_name = stored.name
        recording.media_type = MEDIA_TYPE
        recording.duration_seconds = duration_seconds
        recording.size_bytes = stored.size
        recording.sha256 = stored.sha256
        recording.failure = GAPS_NOTE + "; ".join(notes) if notes else ""
        recording.save(
            update_fields=[
                "status",
                "media_name",
                "media_type",
                "duration_seconds",
                "size_bytes",
                "sha256",
                "failure",
            ]
        )
        chunk_rows = RecordingChunk.objects.filter(recording=recording)
        chunk_files = list(chunk_rows.values_list("storage_name", flat=True))
        chunk_rows.delete()
        # The system read the chunks and made the file: the access log has it like any read.
        record_access(
            viewer=None,
            what=AccessLogEntry.What.RECORDING,
            action=AccessLogEntry.Action.CREATE,
            channel=AccessLogEntry.Channel.SYSTEM,
            appointment=recording.appointment,
            record=f"recordings.recording {recording.id}",
        )
    return chunk_files


def _fail(recording: Recording, reason: str) -> None:
    recording.status = Recording.Status.FAILED
    recording.failure = reason
    recording.save(update_fields=["status", "failure"])


def _reason(error: Exception) -> str:
    if isinstance(error, _EXPECTED_FAILURES):
        return str(error) or type(error).__name__
    return f"Unexpected error: {type(error).__name__}: {error}"


def _delete_chunk_files(names: list[str]) -> None:
    """After the file is stored and the rows are gone; a file left behind is only litter."""
    for name in names:
        try:
            delete_stored(name)
        except OSError:
            logger.exception("Could not delete %s", name)
