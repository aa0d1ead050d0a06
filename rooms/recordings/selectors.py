"""Read queries over recordings, under the access rule (visits.selectors.appointment_require):
the visit's patient, its doctor and clinic staff see its recordings (Capability.VIEW_RECORDINGS),
only those in Recording.LISTED (something was recorded and not deleted); anyone else is told
there is no such recording."""

from collections.abc import Collection

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from clinic.errors import NotFoundError, NotSignedInError, NotYoursError
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


# --- The recording as the room shows it (ROOM-SERVER: rooms.recordings.services.consent) ------


def recording_allowed_user_ids(*, recording: Recording) -> set[int]:
    """Who allows the recording now: the users whose latest decision about it is `allowed`."""
    latest: dict[int, str] = {}
    for user_id, decision in recording.consents.order_by("at", "pk").values_list(
        "user_id", "decision"
    ):
        latest[user_id] = decision
    return {
        user_id
        for user_id, decision in latest.items()
        if decision == RecordingConsent.Decision.ALLOWED
    }


def _person(user_id: int | None, appointment: Appointment) -> dict | None:
    """{user_id, display_name} by the names the room uses (the doctor's professional name)."""
    if user_id is None:
        return None
    if user_id == appointment.doctor.user_id:
        name = appointment.doctor.display_name
    elif user_id == appointment.patient.user_id:
        name = appointment.patient.full_name
    else:
        name = None
    return {"user_id": user_id, "display_name": name}


def _live_state(recording: Recording) -> str:
    if recording.status == Recording.Status.PENDING:
        return "pending"
    return "on" if recording.resumed_at is not None else "paused"


def _seconds_on(recording: Recording) -> float:
    seconds = recording.seconds_on_before
    if recording.resumed_at is not None:
        seconds += (timezone.now() - recording.resumed_at).total_seconds()
    return round(seconds, 1)


def recording_live_get(*, appointment_id: int, admitted_user_ids: Collection[int]) -> dict:
    """The `recording` object of the room's `room.state` (docs/protocol.md, "Recording"): the
    visit's live recording (state pending | on | paused, or off when there is none), who has
    allowed it, which admitted participants must still answer, for how long it has been on, and
    how the latest recording that ended, ended."""
    # At most one is live, and it is the latest asked for: the two latest say everything.
    latest = list(
        Recording.objects.filter(appointment_id=appointment_id)
        .select_related("appointment__doctor", "appointment__patient__user")
        .order_by("-requested_at")[:2]
    )
    live = None
    if latest and latest[0].status in Recording.LIVE and latest[0].ended_at is None:
        live = latest.pop(0)
    ended = latest[0] if latest else None
    state = {
        "state": "off",
        "id": None,
        "requested_by": None,
        "allowed": [],
        "waiting_for": [],
        "seconds": 0.0,
        "ended": None,
    }
    if live is not None:
        allowed = recording_allowed_user_ids(recording=live)
        state |= {
            "state": _live_state(live),
            "id": str(live.pk),
            "requested_by": _person(live.requested_by_id, live.appointment),
            "allowed": sorted(allowed),
            "waiting_for": sorted(set(admitted_user_ids) - allowed),
            "seconds": _seconds_on(live),
        }
    if ended is not None:
        reason = ended.stop_reason or (
            Recording.StopReason.DECLINED
            if ended.status == Recording.Status.DECLINED
            else Recording.StopReason.STOPPED
        )
        state["ended"] = {
            "recording_id": str(ended.pk),
            "reason": str(reason),
            "by": _person(ended.stopped_by_id, ended.appointment),
        }
    return state
