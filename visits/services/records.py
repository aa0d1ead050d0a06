"""Writes to the medical record: visit notes and the chart-access audit trail."""

from django.db import transaction

from clinic.errors import ApplicationError, ConflictError, PermissionDeniedError
from visits.models import Appointment, ChartAccess, Patient, User, VisitNote
from visits.services.appointments import DOCTOR, appointment_lock_for

NOTE_SECTION_MAX_LENGTH = 20_000


def visit_note_save(
    *, user: User, appointment_id: int, sections: dict[str, str], base_version: int
) -> VisitNote:
    """Save the SOAP note of a visit, for its doctor. `base_version` is the version the editor
    started from: if someone saved since, nothing is overwritten and a 409 says so."""
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
        appointment, actor = appointment_lock_for(user, appointment_id)
        if actor != DOCTOR:
            raise PermissionDeniedError("Only the visit's doctor writes its note.")
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
    return note


def chart_access_record(
    *, viewer: User, patient: Patient, channel: str, appointment: Appointment | None = None
) -> ChartAccess:
    return ChartAccess.objects.create(
        viewer=viewer, patient=patient, appointment=appointment, channel=channel
    )
