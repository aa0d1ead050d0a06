"""The consent rule every capture of a visit follows (a recording, a live transcription).

The visit's doctor asks (`request`); the capture is on only while every admitted participant's
latest decision about it is `allowed`: it starts once they all have, pauses when someone new is
admitted (a user with no `allowed` decision for it; a reconnect is not new) and resumes once
they allow, or once the one it waited for has left. Any refusal (decline or withdraw) stops it
at once, and so do the doctor leaving the call and the end of the visit. Every decision is a
consent row, only ever added to.

Each function holds the live capture row (select_for_update) for what it does, so two server
processes acting on one visit at once take turns; a race of two requests is decided by the
database's one-live-capture-per-visit constraint (the kind's `live_error` for the loser).

Who is admitted lives in the room state (rooms.state), not here: callers pass
`admitted_user_ids` as they read it, and once they have acted call `settle` with a fresh read,
which closes the gap between their read and the commit (someone admitted meanwhile is never
captured without being asked).

One `CaptureRules` per kind of capture (rooms.recordings.services.consent.RECORDING,
rooms.transcripts.services.consent.TRANSCRIPTION) says which models, statuses, capability,
errors and stop it uses; the rule itself is only here.
"""

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.errors import ConflictError, NotFoundError
from rooms.consent.models import CaptureConsent, ConsentedCapture, StopReason
from rooms.consent.selectors import CaptureKind, capture_allowed_user_ids
from visits.models import Appointment, User
from visits.selectors import Capability, appointment_require

Decision = CaptureConsent.Decision
REFUSALS = {Decision.DECLINED: StopReason.DECLINED, Decision.WITHDRAWN: StopReason.WITHDRAWN}

# stop(capture_id=..., reason=..., stopped_by=...) -> the capture, stopped (a no-op on one that
# has stopped): each kind ends its own way (a recording is handed to the worker to finalise).
StopFunction = Callable[..., ConsentedCapture]


@dataclass(frozen=True)
class CaptureRules:
    kind: CaptureKind
    consent_model: type[CaptureConsent]
    capture_field: str  # the consent model's foreign key to the capture
    request_capability: Capability
    live_error: type[ConflictError]  # raised when the visit already has a live one
    over_error: type[ConflictError]  # raised when allowing one that has stopped
    not_found: str  # the message for a capture that is not in this visit
    live_message: str
    stop: StopFunction
    # Checked before anything is stored (a recording needs its encryption key).
    precheck: Callable[[], Any] = lambda: None
    # More fields for a new capture, from the visit (a transcription's engine).
    create_fields: Callable[[Appointment], dict] = lambda appointment: {}

    @property
    def model(self) -> type[ConsentedCapture]:
        return self.kind.model

    # --- the rule ----------------------------------------------------------------------------

    def _live_locked(self, *, appointment_id: int) -> ConsentedCapture | None:
        return self.kind.live_query(appointment_id=appointment_id).select_for_update().first()

    def _pause(self, capture: ConsentedCapture, now: datetime) -> None:
        capture.seconds_on_before += (now - capture.resumed_at).total_seconds()
        capture.resumed_at = None
        capture.save(update_fields=["seconds_on_before", "resumed_at"])

    def _settle(
        self, capture: ConsentedCapture, admitted_user_ids: Collection[int]
    ) -> ConsentedCapture:
        """Start, resume or pause the (locked, live) capture for who is admitted now."""
        everyone_allowed = set(admitted_user_ids) <= capture_allowed_user_ids(capture)
        now = timezone.now()
        if capture.status == self.kind.pending_status:
            if everyone_allowed:
                capture.status = self.kind.on_status
                capture.started_at = capture.resumed_at = now
                capture.save(update_fields=["status", "started_at", "resumed_at"])
        elif capture.resumed_at is None:
            if everyone_allowed:
                capture.resumed_at = now
                capture.save(update_fields=["resumed_at"])
        elif not everyone_allowed:
            self._pause(capture, now)
        return capture

    def _consent(self, capture: ConsentedCapture, user: User, role: str, decision: str) -> None:
        self.consent_model.objects.create(
            **{self.capture_field: capture}, user=user, role=role, decision=decision
        )

    def request(
        self, *, user: User, appointment_id: int, admitted_user_ids: Collection[int]
    ) -> ConsentedCapture:
        """The doctor asks to capture the visit: a pending capture with the doctor's own consent,
        on at once when nobody else admitted has to answer. `live_error` if one is live."""
        appointment = (
            Appointment.objects.select_related("doctor", "patient")
            .filter(pk=appointment_id)
            .first()
        )
        if appointment is None:
            raise NotFoundError("No such appointment.")
        role = appointment_require(
            user=user, appointment=appointment, capability=self.request_capability
        )
        # Refused before anyone is asked, not after they allowed.
        self.precheck()
        with transaction.atomic():
            if self._live_locked(appointment_id=appointment_id) is not None:
                raise self.live_error(self.live_message)
            try:
                with transaction.atomic():
                    capture = self.model.objects.create(
                        appointment=appointment,
                        requested_by=user,
                        **self.create_fields(appointment),
                    )
            except IntegrityError:
                # Another process's request committed between our look and our insert.
                raise self.live_error(self.live_message) from None
            self._consent(capture, user, role, Decision.ALLOWED)
            return self._settle(capture, admitted_user_ids)

    def _of_visit_locked(self, *, capture_id, appointment_id: int) -> ConsentedCapture:
        capture = (
            self.model.objects.select_for_update(of=("self",))
            .select_related("appointment__doctor", "appointment__patient")
            .filter(self.kind.scope, pk=capture_id, appointment_id=appointment_id)
            .first()
        )
        if capture is None:
            raise NotFoundError(self.not_found)
        return capture

    def decide(
        self,
        *,
        user: User,
        capture_id,
        decision: str,
        admitted_user_ids: Collection[int],
        appointment_id: int,
    ) -> ConsentedCapture:
        """One participant's decision about the visit's capture, stored as a consent row.

        - allowed: on (started or resumed) once every admitted participant has allowed;
          `over_error` if it has stopped. Allowing again changes nothing and stores nothing.
        - declined, withdrawn: whenever it comes, the capture stops at once (a decline while
          it is on is as good as a withdrawal; nothing is ever captured against a "no"). After
          it stopped, a withdrawal of a consent once given is still stored, for the record.
        """
        with transaction.atomic():
            capture = self._of_visit_locked(capture_id=capture_id, appointment_id=appointment_id)
            role = appointment_require(
                user=user, appointment=capture.appointment, capability=Capability.ENTER_ROOM
            )
            allowed_before = user.id in capture_allowed_user_ids(capture)
            live = self.kind.is_live(capture)
            if decision == Decision.ALLOWED:
                if not live:
                    raise self.over_error("That has stopped.")
                if allowed_before:
                    return capture
            elif not live and not allowed_before:
                return capture  # no consent of theirs to take back
            self._consent(capture, user, role, decision)
            if decision == Decision.ALLOWED:
                return self._settle(capture, admitted_user_ids)
            if not live:
                return capture
            return self.stop(capture_id=capture.pk, reason=REFUSALS[decision], stopped_by=user)

    def stop_by(self, *, user: User, capture_id, appointment_id: int) -> ConsentedCapture:
        """Anyone in the visit stops its capture (a no-op once it has stopped)."""
        capture = (
            self.model.objects.select_related("appointment__doctor", "appointment__patient")
            .filter(self.kind.scope, pk=capture_id, appointment_id=appointment_id)
            .first()
        )
        if capture is None:
            raise NotFoundError(self.not_found)
        appointment_require(
            user=user, appointment=capture.appointment, capability=Capability.ENTER_ROOM
        )
        return self.stop(capture_id=capture.pk, reason=StopReason.STOPPED, stopped_by=user)

    def settle(
        self, *, appointment_id: int, admitted_user_ids: Collection[int]
    ) -> ConsentedCapture | None:
        """Bring the visit's live capture in line with who is admitted now: paused while anyone
        admitted has not allowed it, on (started or resumed) once everyone has."""
        with transaction.atomic():
            capture = self._live_locked(appointment_id=appointment_id)
            return None if capture is None else self._settle(capture, admitted_user_ids)

    def participant_admitted(self, *, appointment_id: int, user_id: int) -> ConsentedCapture | None:
        """Someone entered the call (admitted, or back admitted after a reconnect): a capture
        that is on pauses if they have not allowed it, until they do. A pending one waits for
        them too (the room's `waiting_for` names them)."""
        with transaction.atomic():
            capture = self._live_locked(appointment_id=appointment_id)
            if capture is None:
                return None
            if self.kind.is_on(capture) and user_id not in capture_allowed_user_ids(capture):
                self._pause(capture, timezone.now())
            return capture

    def participant_left(
        self, *, appointment_id: int, user_id: int, admitted_user_ids: Collection[int]
    ) -> ConsentedCapture | None:
        """Someone left the call for good (after the room's leave grace, removed or dropped as
        silent): the doctor who asked for the capture leaving stops it (LEFT); anyone else
        leaving may be the one it waited for, so it starts or resumes if everyone still admitted
        (`admitted_user_ids`) has allowed."""
        with transaction.atomic():
            capture = self._live_locked(appointment_id=appointment_id)
            if capture is None:
                return None
            if user_id == capture.requested_by_id:
                return self.stop(
                    capture_id=capture.pk, reason=StopReason.LEFT, stopped_by=capture.requested_by
                )
            return self._settle(capture, set(admitted_user_ids) - {user_id})

    def visit_ended(
        self, *, appointment_id: int, ended_by: User | None = None
    ) -> ConsentedCapture | None:
        """The visit is over: its live capture stops (VISIT_ENDED)."""
        with transaction.atomic():
            capture = self._live_locked(appointment_id=appointment_id)
            if capture is None:
                return None
            return self.stop(
                capture_id=capture.pk, reason=StopReason.VISIT_ENDED, stopped_by=ended_by
            )
