"""Consent to record a visit, and what the room's comings and goings do to a live recording.

The rule is the one every capture of a visit follows (rooms.consent.rules): on only while every
admitted participant allows it, paused for someone new, stopped by any refusal, by the doctor
leaving and by the end of the visit. Here: what a recording is under it (RECORDING_RULES) and
the room's entry points, by the recording's names.
"""

from collections.abc import Collection
from uuid import UUID

from clinic.errors import ConflictError
from rooms.consent.rules import CaptureRules
from rooms.recordings.encryption import recordings_key
from rooms.recordings.models import Recording, RecordingConsent
from rooms.recordings.selectors import RECORDING_KIND
from rooms.recordings.services.lifecycle import recording_stop
from visits.models import User
from visits.selectors import Capability

Decision = RecordingConsent.Decision


class RecordingLiveError(ConflictError):
    """The visit already has a recording that is waiting for consent or under way."""


class RecordingOverError(ConflictError):
    """That recording has stopped (or was declined): there is nothing to allow any more."""


def _stop(*, capture_id, reason, stopped_by: User | None) -> Recording:
    return recording_stop(recording_id=capture_id, reason=reason, stopped_by=stopped_by)


RECORDING_RULES = CaptureRules(
    kind=RECORDING_KIND,
    consent_model=RecordingConsent,
    capture_field="recording",
    request_capability=Capability.RECORD,
    live_error=RecordingLiveError,
    over_error=RecordingOverError,
    not_found="No such recording in this visit.",
    live_message="This visit is already being recorded, or asked to be.",
    stop=_stop,
    # No key, no recording: refused before anyone is asked, not after they allowed.
    precheck=recordings_key,
)


def recording_request(
    *, user: User, appointment_id: int, admitted_user_ids: Collection[int]
) -> Recording:
    """The doctor asks to record the visit (RecordingLiveError if one is live)."""
    return RECORDING_RULES.request(
        user=user, appointment_id=appointment_id, admitted_user_ids=admitted_user_ids
    )


def recording_decide(
    *,
    user: User,
    recording_id: UUID | str,
    decision: RecordingConsent.Decision,
    admitted_user_ids: Collection[int],
    appointment_id: int,
) -> Recording:
    """One participant's decision about the visit's recording (CaptureRules.decide)."""
    return RECORDING_RULES.decide(
        user=user,
        capture_id=recording_id,
        decision=decision,
        admitted_user_ids=admitted_user_ids,
        appointment_id=appointment_id,
    )


def recording_stop_by(*, user: User, recording_id: UUID | str, appointment_id: int) -> Recording:
    """Anyone in the visit stops its recording (a no-op once it has stopped)."""
    return RECORDING_RULES.stop_by(
        user=user, capture_id=recording_id, appointment_id=appointment_id
    )


def recording_settle(
    *, appointment_id: int, admitted_user_ids: Collection[int]
) -> Recording | None:
    return RECORDING_RULES.settle(
        appointment_id=appointment_id, admitted_user_ids=admitted_user_ids
    )


def participant_admitted(*, appointment_id: int, user_id: int) -> Recording | None:
    return RECORDING_RULES.participant_admitted(appointment_id=appointment_id, user_id=user_id)


def participant_left(
    *, appointment_id: int, user_id: int, admitted_user_ids: Collection[int]
) -> Recording | None:
    return RECORDING_RULES.participant_left(
        appointment_id=appointment_id, user_id=user_id, admitted_user_ids=admitted_user_ids
    )


def visit_ended(*, appointment_id: int, ended_by: User | None = None) -> Recording | None:
    return RECORDING_RULES.visit_ended(appointment_id=appointment_id, ended_by=ended_by)
