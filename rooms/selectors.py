"""Read rules of the visit rooms. Who may enter is the appointment's access rule
(visits.selectors.appointment_role_of, Capability.ENTER_ROOM), and when is the join window
(visits.selectors.room_join_window): the room page, its WebSocket, the ICE servers and the Calls
proxy all ask here."""

from dataclasses import dataclass
from uuid import UUID

from django.conf import settings
from django.utils import timezone

from clinic.errors import NotFoundError, NotSignedInError
from rooms.models import VisitEncryption
from visits.models import Appointment, Role
from visits.selectors import Capability, appointment_require, room_require_open, user_is_signed_in

NO_SUCH_ROOM = "No such room."


@dataclass(frozen=True)
class RoomAccess:
    """A user allowed into a room, and what the room is."""

    user_id: int
    display_name: str
    role: Role  # Role.DOCTOR | Role.PATIENT: nobody else enters
    appointment_id: int
    room: str  # the room UUID's hex: key of the state and of the channel group
    closes_at: float

    @property
    def group(self) -> str:
        return room_group(self.room)


def room_group(room: str) -> str:
    """The channel-layer group of a room (its UUID's hex): every socket in the room is in it."""
    return f"room.{room}"


def audio_group(room: str) -> str:
    """The group of the room's audio sockets (rooms.transcripts.consumers): told at each change
    of the room, so that audio stops the moment the transcription is no longer on."""
    return f"{room_group(room)}.audio"


def room_appointment_get(*, room_id) -> Appointment:
    """The appointment behind a room address, or NotFoundError (also for a malformed one)."""
    try:
        room_uuid = UUID(str(room_id))
    except ValueError:
        raise NotFoundError(NO_SUCH_ROOM) from None
    appointment = (
        Appointment.objects.select_related("doctor__user", "patient__user")
        .filter(room_id=room_uuid)
        .first()
    )
    if appointment is None:
        raise NotFoundError(NO_SUCH_ROOM)
    return appointment


def room_role_get(*, user, room_id) -> tuple[Appointment, Role]:
    """The room's appointment and `user`'s role in it (doctor or patient), open or not; the
    access rule's refusal otherwise (NotSignedInError, NotFoundError, NotYoursError)."""
    if not user_is_signed_in(user):
        raise NotSignedInError("Sign in first.")
    appointment = room_appointment_get(room_id=room_id)
    role = appointment_require(user=user, appointment=appointment, capability=Capability.ENTER_ROOM)
    return appointment, role


def room_access_get(*, user, room_id) -> RoomAccess:
    """Entry into the room now: room_role_get's refusals, and NotOpenError outside the join
    window."""
    appointment, role = room_role_get(user=user, room_id=room_id)
    window = room_require_open(appointment=appointment, now=timezone.now())
    doctor, patient = appointment.doctor, appointment.patient
    name = doctor.display_name if role == Role.DOCTOR else patient.full_name
    return RoomAccess(
        user_id=user.id,
        display_name=name,
        role=role,
        appointment_id=appointment.pk,
        room=appointment.room_id.hex,
        closes_at=window.closes_at.timestamp(),
    )


def visit_encryption_get(*, appointment_id: int) -> dict:
    """The `e2ee` object of room.state: the clinic's E2EE mode, and whether this visit's media
    is end-to-end encrypted (always under "required", never under "off", once its doctor turned
    it on under "optional")."""
    mode = settings.E2EE
    if mode == "optional":
        on = VisitEncryption.objects.filter(appointment_id=appointment_id).exists()
    else:
        on = mode == "required"
    return {"mode": mode, "on": on}
