from django.conf import settings
from django.db import models

from visits.models.appointments import Appointment
from visits.models.patients import Patient


class VisitNote(models.Model):
    """The doctor's SOAP note for one visit. `version` grows with every save, so a stale editor
    (a second tab, a replayed offline save) is told instead of silently overwriting."""

    appointment = models.OneToOneField(Appointment, on_delete=models.CASCADE, related_name="note")
    subjective = models.TextField(blank=True, max_length=20_000)
    objective = models.TextField(blank=True, max_length=20_000)
    assessment = models.TextField(blank=True, max_length=20_000)
    plan = models.TextField(blank=True, max_length=20_000)
    version = models.PositiveIntegerField(default=0)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    updated_at = models.DateTimeField(auto_now=True)

    SECTIONS = ("subjective", "objective", "assessment", "plan")

    def __str__(self) -> str:
        return f"Note for {self.appointment}"

    @property
    def is_empty(self) -> bool:
        return not any(getattr(self, section).strip() for section in self.SECTIONS)


class ChartAccess(models.Model):
    """One look at a patient's chart: who, whose, when and through what (audit trail)."""

    class Channel(models.TextChoices):
        VISIT_ROOM = "visit_room", "Visit room sidebar"
        API = "api", "REST API"

    viewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="chart_accesses"
    )
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="chart_accesses")
    appointment = models.ForeignKey(
        Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    accessed_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-accessed_at"]
        verbose_name_plural = "chart accesses"

    def __str__(self) -> str:
        return f"{self.viewer} viewed {self.patient} at {self.accessed_at:%Y-%m-%d %H:%M}"
