"""Read rules of the visit rooms."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from visits.models import Appointment, AppointmentStatus

# A room opens a little before the visit so people can check their camera, and stays open a
# while after the scheduled end because visits overrun.
JOIN_OPENS_BEFORE_START = timedelta(minutes=15)
JOIN_CLOSES_AFTER_END = timedelta(hours=2)
CLOSED_STATUSES = frozenset(
    {AppointmentStatus.CANCELLED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW}
)


@dataclass(frozen=True)
class JoinWindow:
    opens_at: datetime
    closes_at: datetime
    is_open: bool
    reason: str  # why it is closed, for the person looking at it ("" when open)


def room_join_window(*, appointment: Appointment, now: datetime) -> JoinWindow:
    opens_at = appointment.start - JOIN_OPENS_BEFORE_START
    closes_at = appointment.end + JOIN_CLOSES_AFTER_END
    if appointment.status in CLOSED_STATUSES:
        reason = f"This visit is {appointment.get_status_display().lower()}."
    elif now < opens_at:
        reason = "The room opens 15 minutes before the visit."
    elif now > closes_at:
        reason = "This visit's room has closed."
    else:
        reason = ""
    return JoinWindow(opens_at=opens_at, closes_at=closes_at, is_open=not reason, reason=reason)


def room_appointment_for_user(*, room_id, user) -> Appointment | None:
    """The appointment behind a room, if `user` is its doctor or its patient; None otherwise."""
    appointment = (
        Appointment.objects.select_related("doctor__user", "patient__user")
        .filter(room_id=room_id)
        .first()
    )
    if appointment is None:
        return None
    if user.id in (appointment.doctor.user_id, appointment.patient.user_id):
        return appointment
    return None
