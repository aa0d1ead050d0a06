"""Reading a kind of consented capture: which rows are live, who allows one, and what the room
shows of it (the `recording` and `transcription` objects of `room.state`, docs/protocol.md)."""

from collections.abc import Collection
from dataclasses import dataclass, field

from django.db import models
from django.db.models import Q
from django.utils import timezone

from rooms.consent.models import CaptureConsent, ConsentedCapture, StopReason
from visits.models import Appointment


@dataclass(frozen=True)
class CaptureKind:
    model: type[ConsentedCapture]
    pending_status: str
    on_status: str  # the status while it runs (on or paused)
    id_key: str  # how room.state's `ended` names its id, e.g. recording_id
    # Which rows of the model are captures under the consent rule (a transcription of a
    # recording after the visit is not).
    scope: Q = field(default_factory=Q)

    @property
    def live_statuses(self) -> tuple[str, str]:
        return (self.pending_status, self.on_status)

    def is_live(self, capture: ConsentedCapture) -> bool:
        return capture.status in self.live_statuses and capture.ended_at is None

    def is_on(self, capture: ConsentedCapture) -> bool:
        return capture.status == self.on_status and capture.resumed_at is not None

    def live_query(self, *, appointment_id: int) -> models.QuerySet:
        return self.model.objects.filter(
            self.scope,
            appointment_id=appointment_id,
            status__in=self.live_statuses,
            ended_at__isnull=True,
        )


def capture_allowed_user_ids(capture: ConsentedCapture) -> set[int]:
    """Who allows the capture now: the users whose latest decision about it is `allowed`."""
    latest: dict[int, str] = {}
    for user_id, decision in capture.consents.order_by("at", "pk").values_list(
        "user_id", "decision"
    ):
        latest[user_id] = decision
    return {
        user_id
        for user_id, decision in latest.items()
        if decision == CaptureConsent.Decision.ALLOWED
    }


def capture_live_state(
    kind: CaptureKind, *, appointment_id: int, admitted_user_ids: Collection[int]
) -> dict:
    """The capture's object in the room's `room.state`: the visit's live capture (state
    pending | on | paused, or off when there is none), who has allowed it, which admitted
    participants must still answer, for how long it has been on, and how the latest one that
    ended, ended."""
    # At most one is live, and it is the latest asked for: the two latest say everything.
    latest = list(
        kind.model.objects.filter(kind.scope, appointment_id=appointment_id)
        .select_related("appointment__doctor", "appointment__patient__user")
        .order_by("-requested_at")[:2]
    )
    live = latest.pop(0) if latest and kind.is_live(latest[0]) else None
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
        allowed = capture_allowed_user_ids(live)
        state |= {
            "state": _state_word(kind, live),
            "id": str(live.pk),
            "requested_by": person(live.requested_by_id, live.appointment),
            "allowed": sorted(allowed),
            "waiting_for": sorted(set(admitted_user_ids) - allowed),
            "seconds": _seconds_on(live),
        }
    if ended is not None:
        reason = ended.stop_reason or (
            StopReason.STOPPED if ended.started_at else StopReason.DECLINED
        )
        state["ended"] = {
            kind.id_key: str(ended.pk),
            "reason": str(reason),
            "by": person(ended.stopped_by_id, ended.appointment),
        }
    return state


def _state_word(kind: CaptureKind, capture: ConsentedCapture) -> str:
    if capture.status == kind.pending_status:
        return "pending"
    return "on" if capture.resumed_at is not None else "paused"


def person(user_id: int | None, appointment: Appointment) -> dict | None:
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


def _seconds_on(capture: ConsentedCapture) -> float:
    seconds = capture.seconds_on_before
    if capture.resumed_at is not None:
        seconds += (timezone.now() - capture.resumed_at).total_seconds()
    return round(seconds, 1)
