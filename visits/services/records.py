"""Writes to the medical record: visit notes, their versions, signatures and addenda; and
its export (a read, but every export is written to the access log)."""

from django.db import transaction
from django.utils import timezone

from clinic.errors import ApplicationError, ConflictError
from visits import fhir
from visits.models import (
    AccessLogEntry,
    AppointmentStatus,
    User,
    VisitNote,
    VisitNoteAddendum,
    VisitNoteVersion,
)
from visits.selectors import Capability, patient_record_get
from visits.services.access_log import record_access
from visits.services.appointments import appointment_lock_for

NOTE_SECTION_MAX_LENGTH = 20_000
ADDENDUM_MAX_LENGTH = 20_000
NOTE_CLOSED = "The visit is completed; add an addendum instead."
NOTE_STILL_OPEN = "The note is neither signed nor closed yet; edit the note instead."
NOTE_SIGNED = "The note is signed and can no longer change; add an addendum instead."
# The `code` of each refusal, so a client tells them apart without reading the words.
NOTE_CLOSED_CODE, NOTE_SIGNED_CODE = "note_closed", "note_signed"
NOTE_STILL_OPEN_CODE, NOTE_CHANGED_CODE = "note_still_open", "note_changed_elsewhere"
NOTE_EMPTY_CODE, NOTE_ALREADY_SIGNED_CODE = "note_empty", "note_already_signed"

Channel, What, Action = AccessLogEntry.Channel, AccessLogEntry.What, AccessLogEntry.Action


def visit_note_is_closed(*, appointment) -> bool:
    """A completed visit's note is part of the closed record: only addenda may follow."""
    return appointment.status == AppointmentStatus.COMPLETED


def _version_conflict(note: VisitNote) -> ConflictError:
    return ConflictError(
        f"The note was saved elsewhere meanwhile (version {note.version}); "
        "reload it before saving again.",
        code=NOTE_CHANGED_CODE,
    )


def visit_note_save(
    *,
    user: User,
    appointment_id: int,
    sections: dict[str, str],
    base_version: int,
    channel: str = Channel.API,
    address: str = "",
) -> VisitNote:
    """Save the SOAP note of a visit, for its doctor, while the visit is not completed and the
    note not signed.
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
        note, _ = VisitNote.objects.get_or_create(appointment=appointment)
        if note.is_signed:
            raise ConflictError(NOTE_SIGNED, code=NOTE_SIGNED_CODE)
        if visit_note_is_closed(appointment=appointment):
            raise ConflictError(NOTE_CLOSED, code=NOTE_CLOSED_CODE)
        if base_version != note.version:
            raise _version_conflict(note)
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


def visit_note_sign(
    *,
    user: User,
    appointment_id: int,
    base_version: int,
    channel: str = Channel.API,
    address: str = "",
) -> VisitNote:
    """Sign the visit's note, for its doctor: who, when, and the SHA-256 of the text signed.
    From then on the note is read-only and later changes are addenda. `base_version` is the
    version the doctor is looking at: a note saved elsewhere since is not signed unseen."""
    with transaction.atomic():
        # Under the appointment's row lock, as saves are: no save slips in between.
        appointment, _ = appointment_lock_for(user, appointment_id, Capability.SIGN_NOTE)
        note = VisitNote.objects.filter(appointment=appointment).first()
        if note is None or note.is_empty:
            raise ApplicationError("An empty note cannot be signed.", code=NOTE_EMPTY_CODE)
        if note.is_signed:
            raise ConflictError("The note is already signed.", code=NOTE_ALREADY_SIGNED_CODE)
        if base_version != note.version:
            raise _version_conflict(note)
        note.signed_by = user
        note.signed_at = timezone.now()
        note.signed_hash = note.content_hash()
        # updated_at is left alone: signing changes no text.
        note.save(update_fields=["signed_by", "signed_at", "signed_hash"])
        record_access(
            viewer=user,
            what=What.NOTE,
            action=Action.SIGN,
            channel=channel,
            appointment=appointment,
            record=f"version {note.version}, sha256 {note.signed_hash}",
            address=address,
        )
    return note


def visit_note_addendum_add(
    *, user: User, appointment_id: int, text: str, channel: str = Channel.API, address: str = ""
) -> VisitNoteAddendum:
    """Add a dated, unchangeable addendum to a signed note, or a completed visit's, for its
    doctor; the addendum is signed by its author (who, when, the SHA-256 of its text)."""
    text = text.strip()
    if not text:
        raise ApplicationError("Write the addendum's text.", field="text")
    if len(text) > ADDENDUM_MAX_LENGTH:
        raise ApplicationError(
            f"An addendum is at most {ADDENDUM_MAX_LENGTH} characters.", field="text"
        )
    with transaction.atomic():
        appointment, _ = appointment_lock_for(user, appointment_id, Capability.WRITE_NOTE)
        note, _ = VisitNote.objects.get_or_create(appointment=appointment)
        if not (note.is_signed or visit_note_is_closed(appointment=appointment)):
            raise ConflictError(NOTE_STILL_OPEN, code=NOTE_STILL_OPEN_CODE)
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


def patient_record_export(*, user: User, patient_id: int, channel: str) -> dict:
    """The patient's record as a FHIR R4 Bundle, for whoever may open their chart (the
    patient, clinic staff, a doctor of theirs); every export is in the access log."""
    record = patient_record_get(user=user, patient_id=patient_id)
    bundle = fhir.patient_record_bundle(record)
    record_access(
        viewer=user,
        patient=record.patient,
        what=What.HEALTH_RECORD,
        action=Action.EXPORT,
        channel=channel,
        record=f"FHIR R4 Bundle, {len(bundle['entry'])} resources",
    )
    return bundle
