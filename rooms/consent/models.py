"""The shape every consented capture of a visit shares (a recording, a live transcription): who
asked, when it was on, how it ended; and the append-only decisions it was made under."""

from django.conf import settings
from django.db import models

from visits.models import Role


class StopReason(models.TextChoices):
    STOPPED = "stopped", "Stopped by a participant"
    WITHDRAWN = "withdrawn", "Consent withdrawn"
    DECLINED = "declined", "Consent declined"
    LEFT = "left", "The doctor left the call"
    VISIT_ENDED = "visit_ended", "The visit ended"
    IDLE = "idle", "Nothing arrived for too long"


class ConsentedCapture(models.Model):
    """Asked for by the visit's doctor; on only while every admitted participant's latest
    decision is `allowed` (rooms.consent.rules). Concrete models add `appointment`, `status`
    and what they capture."""

    StopReason = StopReason

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    # When everyone had allowed and capture began; None while pending or if declined.
    started_at = models.DateTimeField(null=True, blank=True)
    # Since when it is on; None while paused (someone admitted has not allowed) or stopped.
    resumed_at = models.DateTimeField(null=True, blank=True)
    # Time it was on before resumed_at: with it, the elapsed time the indicator shows.
    seconds_on_before = models.FloatField(default=0)
    ended_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=16, choices=StopReason.choices, blank=True)
    stopped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        abstract = True


class CaptureConsent(models.Model):
    """One decision of one person about one capture; never changed, only added to (a
    withdrawal is a new row). Concrete models add the foreign key to their capture."""

    class Decision(models.TextChoices):
        ALLOWED = "allowed", "Allowed"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=16, choices=Role.choices)
    decision = models.CharField(max_length=16, choices=Decision.choices)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["at", "pk"]
