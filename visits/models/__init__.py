"""Doctors, patients and their appointments. One module per concept; import from here."""

from visits.models.appointments import Appointment, AppointmentStatus
from visits.models.doctors import Doctor, WorkingHours
from visits.models.patients import Allergy, Condition, Medication, Patient
from visits.models.records import ChartAccess, VisitNote
from visits.models.users import Role, User

__all__ = [
    "Allergy",
    "Appointment",
    "AppointmentStatus",
    "ChartAccess",
    "Condition",
    "Doctor",
    "Medication",
    "Patient",
    "Role",
    "User",
    "VisitNote",
    "WorkingHours",
]
