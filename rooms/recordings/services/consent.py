"""Consent to record a visit, and what the room's comings and goings do to a live recording.

The visit's doctor asks (recording_request); the recording is on only while every admitted
participant's latest decision about it is `allowed`: it starts once they all have, pauses when
someone new is admitted (a user with no `allowed` decision for it; a reconnect is not new) and
resumes once they allow, or once the one it waited for has left. Any refusal (decline or
withdraw) stops it at once, and so do the doctor leaving the call and the end of the visit
(rooms.recordings.services.lifecycle.recording_stop). Every decision is a RecordingConsent row,
only ever added to.

Each function holds the live Recording row (select_for_update) for what it does, so two server
processes acting on one visit at once take turns; a race of two requests is decided by the
database's one-live-recording-per-visit constraint (RecordingLiveError for the loser).

Who is admitted lives in the room state (rooms.state), not here: callers pass
`admitted_user_ids` as they read it, and once they have acted call recording_settle with a
fresh read, which closes the gap between their read and the commit (someone admitted meanwhile
is never recorded without being asked).
"""

from collections.abc import Collection
from datetime import datetime
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.errors import ConflictError, NotFoundError
from rooms.recordings.encryption import recordings_key
from rooms.recordings.models import Recording, RecordingConsent
from rooms.recordings.selectors import recording_allowed_user_ids
from rooms.recordings.services.lifecycle import recording_stop
from visits.models import Appointment, User
from visits.selectors import Capability, appointment_require

Decision = RecordingConsent.Decision
NO_SUCH_RECORDING = "No such recording in this visit."
REFUSALS = {
    Decision.DECLINED: Recording.StopReason.DECLINED,
    Decision.WITHDRAWN: Recording.StopReason.WITHDRAWN,
}


class RecordingLiveError(ConflictError):
    """The visit already has a recording that is waiting for consent or under way."""


class RecordingOverError(ConflictError):
    """That recording has stopped (or was declined): there is nothing to allow any more."""


def _live_locked(*, appointment_id: int) -> Recording | None:
    return (
        Recording.objects.select_for_update()
        .filter(appointment_id=appointment_id, status__in=Recording.LIVE, ended_at__isnull=True)
        .first()
    )


def _is_live(recording: Recording) -> bool:
    return recording.status in Recording.LIVE and recording.ended_at is None


def _is_on(recording: Recording) -> bool:
    return recording.status == Recording.Status.RECORDING and recording.resumed_at is not None


def _pause(recording: Recording, now: datetime) -> None:
    recording.seconds_on_before += (now - recording.resumed_at).total_seconds()
    recording.resumed_at = None
    recording.save(update_fields=["seconds_on_before", "resumed_at"])


def _settle(recording: Recording, admitted_user_ids: Collection[int]) -> Recording:
    """Start, resume or pause the (locked, live) recording for who is admitted now."""
    everyone_allowed = set(admitted_user_ids) <= recording_allowed_user_ids(recording=recording)
    now = timezone.now()
    if recording.status == Recording.Status.PENDING:
        if everyone_allowed:
            recording.status = Recording.Status.RECORDING
            recording.started_at = recording.resumed_at = now
            recording.save(update_fields=["status", "started_at", "resumed_at"])
    elif recording.resumed_at is None:
        if everyone_allowed:
            recording.resumed_at = now
            recording.save(update_fields=["resumed_at"])
    elif not everyone_allowed:
        _pause(recording, now)
    return recording


def recording_request(
    *, user: User, appointment_id: int, admitted_user_ids: Collection[int]
) -> Recording:
    """The doctor asks to record the visit: a pending recording with the doctor's own consent,
    on at once when nobody else admitted has to answer. RecordingLiveError if one is live."""
    appointment = (
        Appointment.objects.select_related("doctor", "patient").filter(pk=appointment_id).first()
    )
    if appointment is None:
        raise NotFoundError("No such appointment.")
    role = appointment_require(user=user, appointment=appointment, capability=Capability.RECORD)
    # No key, no recording: refused before anyone is asked, not after they allowed.
    recordings_key()
    with transaction.atomic():
        if _live_locked(appointment_id=appointment_id) is not None:
            raise RecordingLiveError("This visit is already being recorded, or asked to be.")
        try:
            with transaction.atomic():
                recording = Recording.objects.create(appointment=appointment, requested_by=user)
        except IntegrityError:
            # Another process's request committed between our look and our insert.
            raise RecordingLiveError(
                "This visit is already being recorded, or asked to be."
            ) from None
        RecordingConsent.objects.create(
            recording=recording, user=user, role=role, decision=Decision.ALLOWED
        )
        return _settle(recording, admitted_user_ids)


def _recording_of_visit_locked(*, recording_id: UUID | str, appointment_id: int) -> Recording:
    recording = (
        Recording.objects.select_for_update(of=("self",))
        .select_related("appointment__doctor", "appointment__patient")
        .filter(pk=recording_id, appointment_id=appointment_id)
        .first()
    )
    if recording is None:
        raise NotFoundError(NO_SUCH_RECORDING)
    return recording


def recording_decide(
    *,
    user: User,
    recording_id: UUID | str,
    decision: RecordingConsent.Decision,
    admitted_user_ids: Collection[int],
    appointment_id: int,
) -> Recording:
    """One participant's decision about the visit's recording, stored as a consent row.

    - allowed: on (started or resumed) once every admitted participant has allowed;
      RecordingOverError if it has stopped. Allowing again changes nothing and stores nothing.
    - declined, withdrawn: whenever it comes, the recording stops at once (a decline while it
      is on is as good as a withdrawal; nothing is ever recorded against a "no"). After the
      recording stopped, a withdrawal of a consent once given is still stored, for the record.
    """
    with transaction.atomic():
        recording = _recording_of_visit_locked(
            recording_id=recording_id, appointment_id=appointment_id
        )
        role = appointment_require(
            user=user, appointment=recording.appointment, capability=Capability.ENTER_ROOM
        )
        allowed_before = user.id in recording_allowed_user_ids(recording=recording)
        live = _is_live(recording)
        if decision == Decision.ALLOWED:
            if not live:
                raise RecordingOverError("That recording has stopped.")
            if allowed_before:
                return recording
        elif not live and not allowed_before:
            return recording  # no consent of theirs to take back
        RecordingConsent.objects.create(
            recording=recording, user=user, role=role, decision=decision
        )
        if decision == Decision.ALLOWED:
            return _settle(recording, admitted_user_ids)
        if not live:
            return recording
        return recording_stop(recording_id=recording.pk, reason=REFUSALS[decision], stopped_by=user)


def recording_stop_by(*, user: User, recording_id: UUID | str, appointment_id: int) -> Recording:
    """Anyone in the visit stops its recording (a no-op once it has stopped)."""
    recording = (
        Recording.objects.select_related("appointment__doctor", "appointment__patient")
        .filter(pk=recording_id, appointment_id=appointment_id)
        .first()
    )
    if recording is None:
        raise NotFoundError(NO_SUCH_RECORDING)
    appointment_require(
        user=user, appointment=recording.appointment, capability=Capability.ENTER_ROOM
    )
    return recording_stop(
        recording_id=recording.pk, reason=Recording.StopReason.STOPPED, stopped_by=user
    )


def recording_settle(
    *, appointment_id: int, admitted_user_ids: Collection[int]
) -> Recording | None:
    """Bring the visit's live recording in line with who is admitted now: paused while anyone
    admitted has not allowed it, on (started or resumed) once everyone has."""
    with transaction.atomic():
        recording = _live_locked(appointment_id=appointment_id)
        return None if recording is None else _settle(recording, admitted_user_ids)


def participant_admitted(*, appointment_id: int, user_id: int) -> Recording | None:
    """Someone entered the call (admitted, or back admitted after a reconnect): a recording that
    is on pauses if they have not allowed it, until they do. A pending one waits for them too
    (the room's `waiting_for` names them)."""
    with transaction.atomic():
        recording = _live_locked(appointment_id=appointment_id)
        if recording is None:
            return None
        if _is_on(recording) and user_id not in recording_allowed_user_ids(recording=recording):
            _pause(recording, timezone.now())
        return recording


def participant_left(
    *, appointment_id: int, user_id: int, admitted_user_ids: Collection[int]
) -> Recording | None:
    """Someone left the call for good (after the room's leave grace, removed or dropped as
    silent): the doctor who asked for the recording leaving stops it (LEFT); anyone else
    leaving may be the one it waited for, so it starts or resumes if everyone still admitted
    (`admitted_user_ids`) has allowed."""
    with transaction.atomic():
        recording = _live_locked(appointment_id=appointment_id)
        if recording is None:
            return None
        if user_id == recording.requested_by_id:
            return recording_stop(
                recording_id=recording.pk,
                reason=Recording.StopReason.LEFT,
                stopped_by=recording.requested_by,
            )
        return _settle(recording, set(admitted_user_ids) - {user_id})


def visit_ended(*, appointment_id: int, ended_by: User | None = None) -> Recording | None:
    """The visit is over: its live recording stops (VISIT_ENDED)."""
    with transaction.atomic():
        recording = _live_locked(appointment_id=appointment_id)
        if recording is None:
            return None
        return recording_stop(
            recording_id=recording.pk, reason=Recording.StopReason.VISIT_ENDED, stopped_by=ended_by
        )
