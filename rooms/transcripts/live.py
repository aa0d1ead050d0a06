"""The visit's live transcription as the room shows it (room.state's `transcription`) and as
the audio socket checks it: on only while every admitted participant allows it (the rule:
rooms.consent; its entry points: rooms.transcripts.services.consent)."""

from collections.abc import Collection
from datetime import datetime

from django.db.models import Q

from rooms.consent.selectors import CaptureKind, capture_live_state
from rooms.transcripts.models import Transcription

TRANSCRIPTION_KIND = CaptureKind(
    model=Transcription,
    pending_status=Transcription.Status.PENDING,
    on_status=Transcription.Status.LIVE,
    id_key="transcription_id",
    # A recording's transcription after the visit is not captured under the room's consent.
    scope=Q(source=Transcription.Source.LIVE),
)


def transcription_live_get(*, appointment_id: int, admitted_user_ids: Collection[int]) -> dict:
    """The `transcription` object of `room.state` (docs/protocol.md, "Transcription"), the
    same shape as `recording`."""
    return capture_live_state(
        TRANSCRIPTION_KIND, appointment_id=appointment_id, admitted_user_ids=admitted_user_ids
    )


def transcription_on_get(*, appointment_id: int) -> Transcription | None:
    """The visit's live transcription if it is on now (everyone admitted allows it), else
    None: the audio socket takes audio only then."""
    transcription = TRANSCRIPTION_KIND.live_query(appointment_id=appointment_id).first()
    if transcription is None or not TRANSCRIPTION_KIND.is_on(transcription):
        return None
    return transcription


def transcript_origin_get(*, appointment_id: int) -> datetime | None:
    """Where the visit's transcript clock starts: its first live transcription's start. Every
    segment is timed from it, so a transcription stopped and started again lines up after the
    first instead of over it."""
    first = (
        Transcription.objects.filter(
            appointment_id=appointment_id,
            source=Transcription.Source.LIVE,
            started_at__isnull=False,
        )
        .order_by("started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    return first
