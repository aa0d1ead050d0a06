"""Read queries over recordings, under the access rule (visits.selectors.appointment_require):
the visit's patient, its doctor and clinic staff see its recordings (Capability.VIEW_RECORDINGS),
only those in Recording.LISTED (something was recorded and not deleted); anyone else is told
there is no such recording."""

from collections.abc import Collection

from django.db.models import Prefetch, QuerySet

from clinic.errors import NotFoundError, NotSignedInError, NotYoursError
from rooms.consent.selectors import CaptureKind, capture_allowed_user_ids, capture_live_state
from rooms.recordings.models import Recording, RecordingConsent
from visits.models import Appointment
from visits.selectors import Capability, appointment_require, user_is_signed_in

NO_SUCH_RECORDING = "No such recording."


def _recordings_with_consents() -> QuerySet[Recording]:
    return Recording.objects.select_related(
        "appointment__doctor", "appointment__patient__user"
    ).prefetch_related(
        Prefetch(
            "consents",
            queryset=RecordingConsent.objects.select_related("user").order_by("at", "pk"),
        )
    )


def recording_list(*, user, appointment: Appointment) -> QuerySet[Recording]:
    """The appointment's recordings `user` may see, oldest first, with their consents; the
    access rule's refusal for anyone who may not see them."""
    appointment_require(user=user, appointment=appointment, capability=Capability.VIEW_RECORDINGS)
    return (
        _recordings_with_consents()
        .filter(appointment=appointment, status__in=Recording.LISTED)
        .order_by("requested_at", "pk")
    )


def recording_get(
    *, user, recording_id, capability: Capability = Capability.VIEW_RECORDINGS
) -> Recording:
    """One recording, if `user` may do `capability` to its visit. To see it (the default) it
    must be listed; a deleted or never-started one does not exist for anybody. A stranger is
    told NotYoursError, a 404 that says no more than a recording that does not exist."""
    if not user_is_signed_in(user):
        raise NotSignedInError("Sign in first.")
    recording = _recordings_with_consents().filter(pk=recording_id).first()
    if recording is None:
        raise NotFoundError(NO_SUCH_RECORDING)
    try:
        appointment_require(user=user, appointment=recording.appointment, capability=capability)
    except NotYoursError as refusal:
        raise NotYoursError(NO_SUCH_RECORDING) from refusal
    if capability == Capability.VIEW_RECORDINGS and recording.status not in Recording.LISTED:
        raise NotFoundError(NO_SUCH_RECORDING)
    return recording


def recording_chunks_complete(*, recording: Recording) -> bool:
    """Every chunk from 0 to the recorder's last (last_seq) is stored."""
    if recording.last_seq is None:
        return False
    stored = recording.chunks.filter(seq__lte=recording.last_seq).count()
    return stored == recording.last_seq + 1


# --- The recording as the room shows it (the rule: rooms.consent, RECORDING_RULES) ----------

RECORDING_KIND = CaptureKind(
    model=Recording,
    pending_status=Recording.Status.PENDING,
    on_status=Recording.Status.RECORDING,
    id_key="recording_id",
)


def recording_allowed_user_ids(*, recording: Recording) -> set[int]:
    """Who allows the recording now: the users whose latest decision about it is `allowed`."""
    return capture_allowed_user_ids(recording)


def recording_live_get(*, appointment_id: int, admitted_user_ids: Collection[int]) -> dict:
    """The `recording` object of the room's `room.state` (docs/protocol.md, "Recording"): the
    visit's live recording (state pending | on | paused, or off when there is none), who has
    allowed it, which admitted participants must still answer, for how long it has been on, and
    how the latest recording that ended, ended."""
    return capture_live_state(
        RECORDING_KIND, appointment_id=appointment_id, admitted_user_ids=admitted_user_ids
    )
