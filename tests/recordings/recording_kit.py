"""Builders for the worker's tests: recordings in a given state and their chunks' rows.

The consent flow (rooms.recordings.services.consent) and the chunk API are other modules'
work; these tests need only a recording in the state those would leave it in.
"""

from datetime import timedelta

from django.utils import timezone

from rooms.recordings.models import Recording, RecordingChunk
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
