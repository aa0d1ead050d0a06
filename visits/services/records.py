"""Writes to the medical record: visit notes, their versions and addenda."""

from django.db import transaction

from clinic.errors import ApplicationError, ConflictError
from visits.models import (
    AccessLogEntry,
    AppointmentStatus,
    User,
    VisitNote,
    VisitNoteAddendum,
    VisitNoteVersion,
)
from visits.selectors import Capability
from visits.services.access_log import record_access
from visits.services.appointments import appointment_lock_for

NOTE_SECTION_MAX_LENGTH = 20_000
ADDENDUM_MAX_LENGTH = 20_000
NOTE_CLOSED = "The visit is completed; add an addendum instead."
NOTE_STILL_OPEN = "The visit is not completed yet; edit the note instead."

Channel, What, Action = AccessLogEntry.Channel, AccessLogEntry.What, AccessLogEntry.Action


def visit_note_is_closed(*, appointment) -> bool:
    """A completed visit's note is part of the closed record: only addenda may follow."""
    return appointment.status == AppointmentStatus.COMPLETED


def visit_note_save(
    *,
    user: User,
    appointment_id: int,
    sections: dict[str, str],
    base_version: int,
    channel: str = Channel.API,
    address: str = "",
) -> VisitNote:
    """Save the SOAP note of a visit, for its doctor, while the visit is not completed.
    `base_version` is the version the editor started from: if someone saved since, nothing is
    overwritten and a 409 says so. Every save is kept as a version (who, when, the text)."""
    unknown = set(sections) - set(VisitNote.SECTIONS)
    if unknown:
        raise ApplicationError(f"Unknown note sections: {', '.join(sorted(unknown))}.")
    for name, text in sections.items():
        if len(text) > NOTE_SECTION_MAX_LENGTH:
            raise ApplicationError(
                f"The {name} section is longer than {NOTE_SECTION_MAX_LENGTH} characters.",
                field=name,
            )
    with transaction.atomic():
        # The appointment's row lock also orders this save against the visit's completion.
        appointment, _ = appointment_lock_for(user, appointment_id, Capability.WRITE_NOTE)
        if visit_note_is_closed(appointment=appointment):
            raise ConflictError(NOTE_CLOSED)
        note, _ = VisitNote.objects.get_or_create(appointment=appointment)
        if base_version != note.version:
            raise ConflictError(
                f"The note was saved elsewhere meanwhile (version {note.version}); "
                "reload it before saving again."
            )
        for name, text in sections.items():
            setattr(note, name, text)
        note.version += 1
        note.updated_by = user
        note.save()
        VisitNoteVersion.objects.create(
            note=note,
            version=note.version,
            saved_by=user,
            **{section: getattr(note, section) for section in VisitNote.SECTIONS},
        )
        record_access(
            viewer=user,
            what=What.NOTE,
            action=Action.CREATE if note.version == 1 else Action.UPDATE,
            channel=channel,
            appointment=appointment,
            address=address,
        )
    return note


def visit_note_addendum_add(
    *, user: User, appointment_id: int, text: str, channel: str = Channel.API, address: str = ""
) -> VisitNoteAddendum:
    """Add a dated, unchangeable addendum to a completed visit's note, for its doctor."""
    text = text.strip()
    if not text:
        raise ApplicationError("Write the addendum's text.", field="text")
    if len(text) > ADDENDUM_MAX_LENGTH:
        raise ApplicationError(
            f"An addendum is at most {ADDENDUM_MAX_LENGTH} characters.", field="text"
        )
    with transaction.atomic():
        appointment, _ = appointment_lock_for(user, appointment_id, Capability.WRITE_NOTE)
        if not visit_note_is_closed(appointment=appointment):
            raise ConflictError(NOTE_STILL_OPEN)
        note, _ = VisitNote.objects.get_or_create(appointment=appointment)
        addendum = VisitNoteAddendum.objects.create(note=note, text=text, author=user)
        record_access(
            viewer=user,
            what=What.NOTE,
            action=Action.ADDENDUM,
            channel=channel,
            appointment=appointment,
            address=address,
        )
    return addendum
