"""Consent to transcribe a visit live: the rule every capture follows (rooms.consent.rules),
with a transcription's own stop. While it is not on (pending, paused, stopped) the audio socket
takes no audio (rooms.transcripts.consumers)."""

from collections.abc import Collection

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clinic.errors import ConflictError
from rooms.consent.models import StopReason
from rooms.consent.rules import CaptureRules
from rooms.transcripts.live import TRANSCRIPTION_KIND
from rooms.transcripts.models import Transcription, TranscriptionConsent
from visits.models import User
from visits.selectors import Capability

Status = Transcription.Status


class TranscriptionLiveError(ConflictError):
    """The visit already has a transcription waiting for consent or under way."""


class TranscriptionOverError(ConflictError):
    """That transcription has stopped (or was declined): nothing to allow any more."""


def transcription_stop(*, capture_id, reason: StopReason, stopped_by: User | None) -> Transcription:
    """Stop a live transcription; a no-op on one that has stopped. A pending one (nobody had
    allowed yet) becomes declined: nothing was transcribed."""
    with transaction.atomic():
        transcription = Transcription.objects.select_for_update().get(pk=capture_id)
        if transcription.ended_at is not None or transcription.status not in (
            Status.PENDING,
            Status.LIVE,
        ):
            return transcription
        now = timezone.now()
        if transcription.status == Status.PENDING:
            transcription.status = Status.DECLINED
        else:
            transcription.status = Status.DONE
            if transcription.resumed_at is not None:
                transcription.seconds_on_before += (now - transcription.resumed_at).total_seconds()
        transcription.resumed_at = None
        transcription.ended_at = now
        transcription.stop_reason = reason
        transcription.stopped_by = stopped_by
        transcription.save()
        return transcription


TRANSCRIPTION_RULES = CaptureRules(
    kind=TRANSCRIPTION_KIND,
    consent_model=TranscriptionConsent,
    capture_field="transcription",
    request_capability=Capability.TRANSCRIBE,
    live_error=TranscriptionLiveError,
    over_error=TranscriptionOverError,
    not_found="No such transcription in this visit.",
    live_message="This visit is already being transcribed, or asked to be.",
    stop=transcription_stop,
    create_fields=lambda appointment: {
        "source": Transcription.Source.LIVE,
        "engine": settings.TRANSCRIPTION_ENGINE,
    },
)


def transcription_request(
    *, user: User, appointment_id: int, admitted_user_ids: Collection[int]
) -> Transcription:
    """The doctor asks to transcribe the visit (TranscriptionLiveError if one is live)."""
    return TRANSCRIPTION_RULES.request(
        user=user, appointment_id=appointment_id, admitted_user_ids=admitted_user_ids
    )


def transcription_decide(
    *,
    user: User,
    transcription_id: int,
    decision: str,
    admitted_user_ids: Collection[int],
    appointment_id: int,
) -> Transcription:
    """One participant allows, declines or withdraws (CaptureRules.decide)."""
    return TRANSCRIPTION_RULES.decide(
        user=user,
        capture_id=transcription_id,
        decision=decision,
        admitted_user_ids=admitted_user_ids,
        appointment_id=appointment_id,
    )


def transcription_stop_by(*, user: User, transcription_id: int, appointment_id: int):
    """Anyone in the visit stops its transcription."""
    return TRANSCRIPTION_RULES.stop_by(
        user=user, capture_id=transcription_id, appointment_id=appointment_id
    )
