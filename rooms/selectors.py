"""Read rules of the visit rooms. When a room may be joined is an appointment rule:
visits.selectors.room_join_window."""

from visits.models import Appointment


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
