"""Read queries over a visit's transcript and its draft notes, under the access rule
(visits.selectors.appointment_require) and the transcript's own addition to it: the visit's
patient reads it only once the visit is over (a transcript in the making is the doctor's
working material, and a patient may not watch it being corrected)."""

from dataclasses import dataclass
from enum import StrEnum

from django.db.models import QuerySet

from clinic.errors import NotFoundError, NotSignedInError, NotYoursError, PermissionDeniedError
from rooms.transcripts.models import DraftNote, Transcription, TranscriptSegment
from visits.models import Appointment, AppointmentStatus, Role
from visits.selectors import (
    Capability,
    appointment_get,
    appointment_require,
    appointment_role_of,
    user_is_signed_in,
)

NO_SUCH_SEGMENT = "No such transcript segment."
NO_DRAFT_NOTE = "No draft note has been asked for this visit."
# The visit is over for its patient once it is completed (the doctor ended it).
VISIT_OVER = frozenset({AppointmentStatus.COMPLETED})


class TranscriptStatus(StrEnum):
    OFF = "off"  # nothing was ever transcribed
    LIVE = "live"  # a live transcription is under way (or waiting for consent)
    PROCESSING = "processing"  # a recording is being transcribed in the worker
    READY = "ready"  # what there is is final


@dataclass(frozen=True)
class Transcript:
    appointment: Appointment
    status: TranscriptStatus
    segments: QuerySet[TranscriptSegment]


def _transcript_status(appointment: Appointment) -> TranscriptStatus:
    statuses = set(
        Transcription.objects.filter(appointment=appointment).values_list("status", flat=True)
    )
    if Transcription.Status.LIVE in statuses:
        return TranscriptStatus.LIVE
    if Transcription.Status.PROCESSING in statuses:
        return TranscriptStatus.PROCESSING
    if Transcription.Status.DONE in statuses:
        return TranscriptStatus.READY
    return TranscriptStatus.OFF


def transcript_get(*, user, appointment_id: int) -> Transcript:
    """The visit's transcript (every segment, in time order), if `user` may read it now."""
    appointment = appointment_get(
        user=user, appointment_id=appointment_id, capability=Capability.VIEW_TRANSCRIPT
    )
    role = appointment_role_of(user=user, appointment=appointment)
    if role == Role.PATIENT and appointment.status not in VISIT_OVER:
        raise PermissionDeniedError("The transcript is yours to read once the visit is over.")
    segments = TranscriptSegment.objects.filter(appointment=appointment).order_by("start_ms", "pk")
    return Transcript(
        appointment=appointment, status=_transcript_status(appointment), segments=segments
    )


def transcript_segment_get(*, user, segment_id: int, capability: Capability) -> TranscriptSegment:
    """One segment, if `user` may do `capability` to its visit; to anyone else it does not
    exist (NotYoursError: a 404 that says no more than a missing segment)."""
    if not user_is_signed_in(user):
        raise NotSignedInError("Sign in first.")
    segment = (
        TranscriptSegment.objects.select_related("appointment__doctor", "appointment__patient")
        .filter(pk=segment_id)
        .first()
    )
    if segment is None:
        raise NotFoundError(NO_SUCH_SEGMENT)
    try:
        appointment_require(user=user, appointment=segment.appointment, capability=capability)
    except NotYoursError as refusal:
        raise NotYoursError(NO_SUCH_SEGMENT) from refusal
    return segment


def draft_note_appointment_get(*, user, appointment_id: int) -> Appointment:
    """The appointment, if `user` is its doctor: a draft note is the doctor's working material,
    and to anyone else (its patient and staff too) the draft-note endpoints do not exist."""
    try:
        return appointment_get(
            user=user, appointment_id=appointment_id, capability=Capability.DRAFT_NOTE
        )
    except PermissionDeniedError as refusal:
        raise NotYoursError("No such appointment.") from refusal


def draft_note_latest_get(*, user, appointment_id: int) -> DraftNote:
    """The visit's latest draft note, for its doctor."""
    appointment = draft_note_appointment_get(user=user, appointment_id=appointment_id)
    draft = DraftNote.objects.filter(appointment=appointment).order_by("-requested_at", "-pk")
    found = draft.first()
    if found is None:
        raise NotFoundError(NO_DRAFT_NOTE)
    return found


def previous_transcripts_get(*, user, visits) -> dict[int, list[TranscriptSegment]]:
    """For the doctor's sidebar: the segments of each earlier visit whose transcript `user`
    may read (their own visits with the patient; another doctor's transcript is not theirs),
    by appointment id; visits without a transcript are left out."""
    readable = [
        visit.pk
        for visit in visits
        if appointment_role_of(user=user, appointment=visit) in (Role.DOCTOR, Role.ADMIN)
    ]
    found: dict[int, list[TranscriptSegment]] = {}
    segments = TranscriptSegment.objects.filter(appointment_id__in=readable).order_by(
        "appointment_id", "start_ms", "pk"
    )
    for segment in segments:
        found.setdefault(segment.appointment_id, []).append(segment)
    return found
