"""Read rules of the consultation recordings."""

from collections.abc import Collection

from django.utils import timezone

from rooms.recordings.models import Recording, RecordingConsent
from visits.models import Appointment

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
