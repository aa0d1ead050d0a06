"""Doctors, patients and their appointments. One module per concept; import from here."""

from visits.models.appointments import Appointment, AppointmentStatus
from visits.models.doctors import Doctor, WorkingHours
from visits.models.patients import Allergy, Condition, Medication, Patient
from visits.models.records import (
    AccessLogEntry,
    VisitNote,
    VisitNoteAddendum,
    VisitNoteVersion,
)
from visits.models.users import Role, User

__all__ = [
    "AccessLogEntry",
    "Allergy",
    "Appointment",
    "AppointmentStatus",
    "Condition",
    "Doctor",
    "Medication",
    "Patient",
    "Role",
    "User",
    "VisitNote",
    "VisitNoteAddendum",
    "VisitNoteVersion",
    "WorkingHours",
]
