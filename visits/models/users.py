from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    """The one enum of roles: a user's role field, a person's role to an appointment
    (visits.selectors.appointment_role_of), a participant's role in a visit room. ADMIN is the
    clinic staff role (stored as "admin"); whether someone is clinic staff is
    User.is_clinic_staff, which counts superusers too."""

    PATIENT = "patient", "Patient"
    DOCTOR = "doctor", "Doctor"
    ADMIN = "admin", "Clinic staff"


class User(AbstractUser):
    """Everyone who signs in. The role decides which profile (Doctor, Patient) belongs to them."""

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.PATIENT)

    class Meta:
        ordering = ["last_name", "first_name", "username"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="user_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    @property
    def is_doctor(self) -> bool:
        return self.role == Role.DOCTOR

    @property
    def is_patient(self) -> bool:
        return self.role == Role.PATIENT

    @property
    def is_clinic_staff(self) -> bool:
        """Runs the clinic: the clinic staff role, or any superuser."""
        return self.role == Role.ADMIN or self.is_superuser
