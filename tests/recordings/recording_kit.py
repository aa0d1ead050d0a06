"""Builders for the worker's tests: recordings in a given state and their chunks' rows.

The consent flow (rooms.recordings.services.consent) and the chunk API are other modules'
work; these tests need only a recording in the state those would leave it in.
"""

from datetime import timedelta

from django.utils import timezone

from rooms.recordings.encryption import write_encrypted
from rooms.recordings.models import Recording, RecordingChunk
from rooms.recordings.storage import chunk_context, chunk_name
from tests.factories import make_appointment


def make_recording(*, status: str = Recording.Status.RECORDING, on_for: float = 0, **fields):
    """A recording of a new appointment, requested by its doctor; when running, on since
    `on_for` seconds ago."""
    appointment = fields.pop("appointment", None) or make_appointment()
    now = timezone.now()
    running = status == Recording.Status.RECORDING
    return Recording.objects.create(
        appointment=appointment,
        requested_by=appointment.doctor.user,
        status=status,
        started_at=fields.pop("started_at", now - timedelta(seconds=on_for) if running else None),
        resumed_at=fields.pop("resumed_at", now - timedelta(seconds=on_for) if running else None),
        **fields,
    )


def add_chunk_rows(recording: Recording, seqs) -> None:
    """Chunk rows only (for the lifecycle: whether all are in), with no stored file."""
    for seq in seqs:
        RecordingChunk.objects.create(
            recording=recording,
            seq=seq,
            size_bytes=1,
            sha256="0" * 64,
            storage_name=f"{recording.id}/chunks/{seq:06d}.enc",
        )


def stopped_recording(**fields) -> Recording:
    """A recording that ran and was stopped, waiting for the worker."""
    return make_recording(
        on_for=fields.pop("on_for", 10), ended_at=fields.pop("ended_at", timezone.now()), **fields
    )


def store_chunks(recording: Recording, pieces, *, seqs=None) -> list[RecordingChunk]:
    """Each piece stored as the chunk API stores it: encrypted under its chunk's context, with
    its row. `seqs` (default 0, 1, ...) numbers them, so a test can leave one out."""
    stored = []
    for seq, piece in zip(seqs if seqs is not None else range(len(pieces)), pieces, strict=True):
        saved = write_encrypted(
            chunk_name(recording.id, seq), [piece], context=chunk_context(recording.id, seq)
        )
        stored.append(
            RecordingChunk.objects.create(
                recording=recording,
                seq=seq,
                size_bytes=saved.size,
                sha256=saved.sha256,
                storage_name=saved.name,
            )
        )
    return stored
