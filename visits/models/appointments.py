import uuid

from django.db import models

from visits.models.doctors import Doctor
from visits.models.patients import Patient


class AppointmentStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    CONFIRMED = "confirmed", "Confirmed"
    CHECKED_IN = "checked_in", "Checked in"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    NO_SHOW = "no_show", "No-show"


# Statuses that hold the doctor's time: everything but a cancellation. The overlap rule in the
# database (migration 0002) uses the same definition.
SLOT_RELEASING_STATUSES = frozenset({AppointmentStatus.CANCELLED})
UPCOMING_STATUSES = frozenset(
    {
        AppointmentStatus.REQUESTED,
        AppointmentStatus.CONFIRMED,
        AppointmentStatus.CHECKED_IN,
        AppointmentStatus.IN_PROGRESS,
    }
)


class Appointment(models.Model):
    doctor = models.ForeignKey(Doctor, on_delete=models.PROTECT, related_name="appointments")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    start = models.DateTimeField(db_index=True)
    end = models.DateTimeField()
    reason = models.CharField(max_length=500)
    status = models.CharField(
        max_length=16, choices=AppointmentStatus.choices, default=AppointmentStatus.REQUESTED
    )
    cancellation_reason = models.CharField(max_length=500, blank=True)
    # The visit room's address: random so that knowing one room tells nothing about another.
    room_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start"]
        indexes = [models.Index(fields=["doctor", "start"], name="appointment_doctor_start")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")),
                name="appointment_end_after_start",
                violation_error_message="An appointment must end after it starts.",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=AppointmentStatus.values),
                name="appointment_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient.full_name} with {self.doctor} at {self.start:%Y-%m-%d %H:%M} UTC"

    @property
    def holds_slot(self) -> bool:
        return self.status not in SLOT_RELEASING_STATUSES
