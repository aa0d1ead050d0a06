"""A consultation recording, the consents it was made under, and the chunks it is uploaded in.

A recording is asked for by the visit's doctor and starts only once every admitted participant
has allowed it (`pending` until then; `declined` if someone declines first). While it runs it
is `recording` (its live state in the room, on or paused, follows `resumed_at`); once stopped
the worker turns its chunks into one encrypted, seekable file (`processing`, then `ready` or
`failed`). Deleting it (clinic staff with a reason, or retention) removes the media and keeps
the row and its consents as the record of what happened.
"""

import uuid

from django.conf import settings
from django.db import models

from rooms.consent.models import CaptureConsent, ConsentedCapture
from visits.models import Appointment


class Recording(ConsentedCapture):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for consent"  # not in the API: nothing recorded yet
        DECLINED = "declined", "Declined"  # not in the API: nothing was recorded
        RECORDING = "recording", "Recording"
        PROCESSING = "processing", "Processing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        DELETED = "deleted", "Deleted"  # not in the API: media gone, the record kept

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    appointment = models.ForeignKey(
        Appointment, on_delete=models.PROTECT, related_name="recordings"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # The recorder's last chunk (the doctor's page says which it is): with all chunks up to it
    # stored, a stopped recording is finalised at once rather than after the upload grace.
    last_seq = models.PositiveIntegerField(null=True, blank=True)
    last_chunk_at = models.DateTimeField(null=True, blank=True)
    # The finished file (plaintext figures; the stored bytes are encrypted).
    media_name = models.CharField(max_length=255, blank=True)  # in the recordings storage
    media_type = models.CharField(max_length=64, blank=True)  # e.g. video/webm
    duration_seconds = models.FloatField(null=True, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    failure = models.TextField(blank=True)  # why finalising failed, for the admin
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    deleted_reason = models.TextField(blank=True)

    # The statuses the API shows (something was recorded and not deleted).
    LISTED = (Status.RECORDING, Status.PROCESSING, Status.READY, Status.FAILED)
    # The statuses of a recording that is live in the room (at most one per appointment).
    LIVE = (Status.PENDING, Status.RECORDING)

    class Meta:
        ordering = ["requested_at"]
        constraints = [
            # One live recording per visit: a second Record press joins the first.
            models.UniqueConstraint(
                fields=["appointment"],
                condition=models.Q(status__in=["pending", "recording"], ended_at__isnull=True),
                name="recording_one_live_per_appointment",
            )
        ]

    def __str__(self) -> str:
        return f"Recording of {self.appointment} ({self.get_status_display()})"


class RecordingConsent(CaptureConsent):
    recording = models.ForeignKey(Recording, on_delete=models.PROTECT, related_name="consents")

    class Meta(CaptureConsent.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.user} {self.decision} {self.recording_id} at {self.at:%Y-%m-%d %H:%M:%S}"


class RecordingChunk(models.Model):
    """One uploaded piece of the recorder's output, stored encrypted until finalising joins
    them. `seq` orders them and makes an upload idempotent: the same bytes again are a no-op,
    other bytes under a stored seq a conflict."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    size_bytes = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)  # of the plaintext, to tell a retry from a conflict
    storage_name = models.CharField(max_length=255)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(fields=["recording", "seq"], name="recording_chunk_seq_unique")
        ]

    def __str__(self) -> str:
        return f"Chunk {self.seq} of {self.recording_id}"
