"""A visit's transcript: the consented live transcriptions (and post-visit transcriptions of a
recording) it was made in, their segments, and the AI-drafted notes made from it.

A live transcription follows the consent rule every capture does (rooms.consent.rules): asked
for by the doctor, `pending` until every admitted participant allows, `live` while it runs
(on or paused, as `resumed_at` says), `done` once stopped; `declined` if someone declined
before it began. A transcription of a recording (source `recording`) is `processing` in the
worker, then `done` or `failed`. The visit's transcript is all its segments, in time order.
"""

from django.conf import settings
from django.db import models

from rooms.consent.models import CaptureConsent, ConsentedCapture
from rooms.recordings.models import Recording
from visits.models import Appointment, Role


class Transcription(ConsentedCapture):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for consent"
        DECLINED = "declined", "Declined"
        LIVE = "live", "Live"
        PROCESSING = "processing", "Transcribing a recording"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Source(models.TextChoices):
        LIVE = "live", "Live, from the call's audio"
        RECORDING = "recording", "From a recording, after the visit"

    appointment = models.ForeignKey(
        Appointment, on_delete=models.PROTECT, related_name="transcriptions"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.LIVE)
    recording = models.ForeignKey(
        Recording, on_delete=models.PROTECT, null=True, blank=True, related_name="transcriptions"
    )
    engine = models.CharField(max_length=32)  # TRANSCRIPTION_ENGINE when it was asked for
    failure = models.TextField(blank=True)  # why a recording's transcription failed

    # The statuses of a transcription that is live in the room (at most one per appointment).
    LIVE_STATUSES = (Status.PENDING, Status.LIVE)

    class Meta:
        ordering = ["requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["appointment"],
                condition=models.Q(status__in=["pending", "live"], ended_at__isnull=True),
                name="transcription_one_live_per_appointment",
            )
        ]

    def __str__(self) -> str:
        return f"Transcription of {self.appointment} ({self.get_status_display()})"


class TranscriptionConsent(CaptureConsent):
    transcription = models.ForeignKey(
        Transcription, on_delete=models.PROTECT, related_name="consents"
    )

    class Meta(CaptureConsent.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.user} {self.decision} {self.transcription_id} at {self.at:%Y-%m-%d %H:%M:%S}"


class TranscriptSegment(models.Model):
    """One speaker's turn: what the engine heard (`text`, never changed) and the doctor's
    correction of it, if any. Times are milliseconds from the visit's first live transcription's
    start (rooms.transcripts.live.transcript_origin_get), so the visit's segments share a clock."""

    transcription = models.ForeignKey(
        Transcription, on_delete=models.PROTECT, related_name="segments"
    )
    appointment = models.ForeignKey(
        Appointment, on_delete=models.PROTECT, related_name="transcript_segments"
    )
    # Who spoke; None when the engine cannot tell (a recording's mixed audio).
    speaker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    speaker_role = models.CharField(max_length=16, choices=Role.choices, blank=True)
    speaker_name = models.CharField(max_length=200, blank=True)  # as the room showed it then
    start_ms = models.PositiveIntegerField()
    end_ms = models.PositiveIntegerField()
    text = models.TextField()
    corrected_text = models.TextField(blank=True)
    corrected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    corrected_at = models.DateTimeField(null=True, blank=True)
    engine = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["appointment", "start_ms", "pk"]
        indexes = [models.Index(fields=["appointment", "start_ms"])]

    def __str__(self) -> str:
        return f"Segment {self.pk} of {self.appointment_id} at {self.start_ms} ms"


class DraftNote(models.Model):
    """A SOAP note an LLM drafted from the transcript, for the doctor to accept, edit or
    discard section by section; it never writes the doctor's note itself."""

    class Status(models.TextChoices):
        PENDING = "pending", "Drafting"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    appointment = models.ForeignKey(
        Appointment, on_delete=models.PROTECT, related_name="draft_notes"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # {"subjective": str, "objective": str, "assessment": str, "plan": str}
    sections = models.JSONField(default=dict, blank=True)
    # The segment ids the draft cites, per section: {"subjective": [12, 14], ...}
    cited_segments = models.JSONField(default=dict, blank=True)
    model = models.CharField(max_length=100, blank=True)
    failure = models.TextField(blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["requested_at", "pk"]

    def __str__(self) -> str:
        return f"Draft note for {self.appointment_id} ({self.get_status_display()})"
