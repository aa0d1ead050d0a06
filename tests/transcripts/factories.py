"""Transcripts as a finished live transcription leaves them: rows made directly, for tests of
what reads and changes them (the socket that writes them has its own tests)."""

from django.utils import timezone

from rooms.transcripts.models import Transcription, TranscriptionConsent, TranscriptSegment
from tests.factories import make_appointment
from visits.models import Appointment, Role


def make_transcription(
    appointment: Appointment | None = None, *, status=Transcription.Status.DONE, **fields
) -> Transcription:
    appointment = appointment or make_appointment()
    now = timezone.now()
    transcription = Transcription.objects.create(
        appointment=appointment,
        requested_by=appointment.doctor.user,
        status=status,
        engine=fields.pop("engine", "local"),
        started_at=fields.pop("started_at", now),
        ended_at=fields.pop("ended_at", None if status == Transcription.Status.LIVE else now),
        **fields,
    )
    for user, role in (
        (appointment.doctor.user, Role.DOCTOR),
        (appointment.patient.user, Role.PATIENT),
    ):
        TranscriptionConsent.objects.create(
            transcription=transcription,
            user=user,
            role=role,
            decision=TranscriptionConsent.Decision.ALLOWED,
        )
    return transcription


def make_segment(
    transcription: Transcription, *, speaker: str = Role.DOCTOR, start_ms: int, text: str, **fields
) -> TranscriptSegment:
    appointment = transcription.appointment
    user = appointment.doctor.user if speaker == Role.DOCTOR else appointment.patient.user
    return TranscriptSegment.objects.create(
        transcription=transcription,
        appointment=appointment,
        speaker=user,
        speaker_role=speaker,
        speaker_name=user.display_name,
        start_ms=start_ms,
        end_ms=fields.pop("end_ms", start_ms + 2500),
        text=text,
        engine=transcription.engine,
        **fields,
    )


DIALOGUE = (
    (Role.DOCTOR, "Good morning. What brings you in today?"),
    (Role.PATIENT, "I have had headaches for two weeks."),
    (Role.DOCTOR, "Your blood pressure is one hundred and fifty over ninety."),
    (Role.DOCTOR, "I will increase the lisinopril to twenty milligrams."),
)


def make_transcript(appointment: Appointment | None = None, **fields) -> list[TranscriptSegment]:
    """A done transcription of a short dialogue, its segments three seconds apart."""
    transcription = make_transcription(appointment, **fields)
    return [
        make_segment(transcription, speaker=speaker, start_ms=500 + 3000 * index, text=text)
        for index, (speaker, text) in enumerate(DIALOGUE)
    ]
