import secrets

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

MRN_PREFIX = "CM"
MRN_DIGITS = 8

phone_validator = RegexValidator(
    r"^\+?[0-9 ()\-.]{6,32}$", "Enter a phone number: digits, spaces, ( ) - . and an optional +."
)


def generate_mrn() -> str:
    """A random MRN: unlike a sequence, it does not reveal how many patients there are."""
    return f"{MRN_PREFIX}{secrets.randbelow(10**MRN_DIGITS):0{MRN_DIGITS}d}"


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown"


class Patient(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="patient"
    )
    medical_record_number = models.CharField(
        "MRN", max_length=16, unique=True, default=generate_mrn, editable=False
    )
    date_of_birth = models.DateField()
    sex = models.CharField(max_length=16, choices=Sex.choices, default=Sex.UNKNOWN)
    phone = models.CharField(max_length=32, blank=True, validators=[phone_validator])
    email = models.EmailField(blank=True)
    emergency_contact_name = models.CharField(max_length=120, blank=True)
    emergency_contact_relationship = models.CharField(max_length=60, blank=True)
    emergency_contact_phone = models.CharField(
        max_length=32, blank=True, validators=[phone_validator]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user__last_name", "user__first_name"]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.medical_record_number})"

    @property
    def full_name(self) -> str:
        return self.user.display_name


class AllergySeverity(models.TextChoices):
    MILD = "mild", "Mild"
    MODERATE = "moderate", "Moderate"
    SEVERE = "severe", "Severe"
    LIFE_THREATENING = "life_threatening", "Life-threatening"


class Allergy(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="allergies")
    substance = models.CharField(max_length=120)
    reaction = models.CharField(max_length=200, blank=True)
    severity = models.CharField(
        max_length=20, choices=AllergySeverity.choices, default=AllergySeverity.MODERATE
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["patient", "substance"]
        verbose_name_plural = "allergies"
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "substance"], name="allergy_unique_substance_per_patient"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.substance} ({self.get_severity_display()})"


class Medication(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="medications")
    name = models.CharField(max_length=120)
    dose = models.CharField(max_length=60, blank=True, help_text="e.g. 500 mg")
    frequency = models.CharField(max_length=60, blank=True, help_text="e.g. twice daily")
    started_on = models.DateField(null=True, blank=True)
    is_active = models.BooleanField("current", default=True)
    notes = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["patient", "-is_active", "name"]

    def __str__(self) -> str:
        return " ".join(part for part in (self.name, self.dose, self.frequency) if part)


class ConditionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    RESOLVED = "resolved", "Resolved"


class Condition(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="conditions")
    name = models.CharField(max_length=160)
    icd10_code = models.CharField("ICD-10 code", max_length=10, blank=True)
    status = models.CharField(
        max_length=16, choices=ConditionStatus.choices, default=ConditionStatus.ACTIVE
    )
    onset_date = models.DateField(null=True, blank=True)
    notes = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["patient", "status", "name"]

    def __str__(self) -> str:
        return self.name
