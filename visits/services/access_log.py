"""The one way into the access log: every read or write of health data goes through here."""

from visits.models import AccessLogEntry, Appointment, Patient, User


def viewer_role_of(user: User | None) -> str:
    """The role to log: a superuser is named as such whatever their role field says; no user
    is the system."""
    if user is None:
        return AccessLogEntry.SYSTEM
    return AccessLogEntry.SUPERUSER if user.is_superuser else user.role


def record_access(
    *,
    viewer: User | None,
    what: str,
    action: str,
    channel: str,
    patient: Patient | None = None,
    appointment: Appointment | None = None,
    record: str = "",
    reason: str = "",
) -> AccessLogEntry:
    """Log that `viewer` did `action` to `what` (an `AccessLogEntry.What`) of `patient` through
    `channel`, and why when that is asked (`reason`). The patient is taken from the appointment
    when only that is given. `viewer` None is the system acting on its own (a retention
    expiry), logged as role and channel "system"; it must be said, never defaulted."""
    if patient is None and appointment is not None:
        patient = appointment.patient
    return AccessLogEntry.objects.create(
        viewer=viewer,
        viewer_role=viewer_role_of(viewer),
        patient=patient,
        appointment=appointment,
        what=what,
        action=action,
        channel=channel,
        record=record,
        reason=reason,
    )
