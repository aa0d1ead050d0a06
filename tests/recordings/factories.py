"""Recordings in a given state, made directly (the room's consent flow and the worker's
finalising are other modules' tests)."""

import hashlib
from datetime import timedelta

from django.utils import timezone

from rooms.recordings.encryption import write_encrypted
from rooms.recordings.models import Recording, RecordingConsent
from rooms.recordings.storage import media_context, media_name
from tests.factories import at, make_appointment
from visits.models import Appointment, Role


def make_recording(
    appointment: Appointment | None = None, *, status=Recording.Status.RECORDING, **fields
) -> Recording:
    """A recording the visit's doctor asked for, with the doctor's and the patient's consent;
    on since a minute ago unless `status` says otherwise."""
    appointment = appointment or make_appointment(start=at(minutes=-10))
    now = timezone.now()
    started = status not in (Recording.Status.PENDING, Recording.Status.DECLINED)
    on = status == Recording.Status.RECORDING
    recording = Recording.objects.create(
        appointment=appointment,
        requested_by=appointment.doctor.user,
        status=status,
        started_at=fields.pop("started_at", now - timedelta(minutes=1) if started else None),
        resumed_at=fields.pop("resumed_at", now - timedelta(minutes=1) if on else None),
        **fields,
    )
    RecordingConsent.objects.create(
        recording=recording,
        user=appointment.doctor.user,
        role=Role.DOCTOR,
        decision=RecordingConsent.Decision.ALLOWED,
    )
    if started:
        RecordingConsent.objects.create(
            recording=recording,
            user=appointment.patient.user,
            role=Role.PATIENT,
            decision=RecordingConsent.Decision.ALLOWED,
        )
    return recording


def make_ready_recording(appointment: Appointment | None = None, *, media: bytes, **fields):
    """A finalised recording whose media (encrypted) is `media`."""
    recording = make_recording(
        appointment,
        status=Recording.Status.READY,
        ended_at=fields.pop("ended_at", timezone.now()),
        **fields,
    )
    stored = write_encrypted(media_name(recording.id), [media], context=media_context(recording.id))
    assert stored.sha256 == hashlib.sha256(media).hexdigest()
    recording.media_name = stored.name
    recording.media_type = "video/webm"
    recording.duration_seconds = 12.5
    recording.size_bytes = stored.size
    recording.sha256 = stored.sha256
    recording.save()
    return recording
