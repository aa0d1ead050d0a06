"""The words a visit is likely to contain, for the speech engine's initial prompt: Whisper
spells "lisinopril" right when it has seen it. Only the chart's clinical terms go in (the
reason for the visit, medications, conditions, allergies), never names or record numbers: with
a cloud engine the prompt leaves the clinic with the audio."""

from rooms.transcripts.engines.base import EngineOptions
from visits.models import AccessLogEntry, Appointment, User
from visits.services import record_access

MAX_PROMPT_CHARACTERS = 600  # Whisper reads at most 224 tokens of prompt


def transcription_options_get(
    *,
    appointment_id: int,
    user: User | None,
    channel: str = AccessLogEntry.Channel.VISIT_ROOM,
    reason: str = "the speech engine's vocabulary for the visit's transcription",
    address: str = "",
) -> EngineOptions:
    """The engine options for the visit's streams; reading the chart for them is logged (as
    `user`'s, or the system's when None: the worker transcribing a recording)."""
    appointment = Appointment.objects.select_related("patient").get(pk=appointment_id)
    patient = appointment.patient
    medications = [m.name for m in patient.medications.all()]
    conditions = [c.name for c in patient.conditions.all()]
    allergies = [a.substance for a in patient.allergies.all()]
    record_access(
        viewer=user,
        what=AccessLogEntry.What.CHART,
        action=AccessLogEntry.Action.VIEW,
        channel=channel,
        appointment=appointment,
        reason=reason,
        address=address,
    )
    parts = [f"A telemedicine visit between a doctor and a patient about {appointment.reason}."]
    if medications:
        parts.append(f"Medications: {', '.join(medications)}.")
    if conditions:
        parts.append(f"Conditions: {', '.join(conditions)}.")
    if allergies:
        parts.append(f"Allergies: {', '.join(allergies)}.")
    return EngineOptions(prompt=" ".join(parts)[:MAX_PROMPT_CHARACTERS])
