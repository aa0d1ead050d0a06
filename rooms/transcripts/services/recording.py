"""Transcribing a recording after the visit: the doctor asks (recording_transcription_request),
the worker transcribes it with the configured engine (recording_transcribe, run by
rooms.transcripts.tasks.transcribe_recording).

The rules of asking:
- only the visit's doctor (Capability.TRANSCRIBE), and only a ready (finalised) recording;
- one transcription per recording: one processing or done refuses another (a failed one may
  be tried again; one processing for over GIVEN_UP_AFTER was lost, and is failed then), and so
  does a live transcription that was on while the recording ran (its segments are already the
  visit's transcript; a second set would repeat them);
- consent: everyone who allowed the recording (anyone whose voice it may hold) must also have
  allowed transcription of this visit: their latest decision about the visit's live
  transcriptions is `allowed`. A recording's audio is mixed, so nobody can be left out of it.

The transcription's `started_at` is the recording's: its segments' times are milliseconds from
the recording's start, as the player counts them. Segments have no speaker (mixed audio).
"""

import io
import logging
from datetime import timedelta

import av
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clinic.errors import ApplicationError, ConflictError, NotFoundError
from clinic.integrations.openai.errors import OpenAIError
from rooms.consent.models import CaptureConsent
from rooms.recordings.encryption import (
    BLOCK_SIZE,
    DecryptedFile,
    EncryptedFileError,
    open_decrypted,
)
from rooms.recordings.models import Recording
from rooms.recordings.selectors import NO_SUCH_RECORDING, recording_get
from rooms.recordings.services.playback import recording_record_label
from rooms.recordings.storage import media_context
from rooms.transcripts.engines.base import BYTES_PER_SAMPLE, SAMPLE_RATE, Engine
from rooms.transcripts.engines.local import ModelMismatch
from rooms.transcripts.engines.registry import UnknownEngine, get_engine
from rooms.transcripts.models import Transcription, TranscriptionConsent
from rooms.transcripts.pool import engine_settings
from rooms.transcripts.services.segments import segment_store
from rooms.transcripts.tasks import schedule_recording_transcription
from rooms.transcripts.vocabulary import transcription_options_get
from visits.models import AccessLogEntry, User
from visits.selectors import Capability
from visits.services import record_access

logger = logging.getLogger(__name__)

Status, Source = Transcription.Status, Transcription.Source
What, Action, Channel = AccessLogEntry.What, AccessLogEntry.Action, AccessLogEntry.Channel

# A gap in the recording's audio (chunks lost in upload) this long or longer is kept as silence,
# so that segment times stay the player's.
GAP_SECONDS = 0.1
# A transcription still processing this long after it was asked for was lost (the worker
# stopped mid-task): it is marked failed when the recording is asked for again. A 30-minute
# visit takes the local engine minutes on two cores.
GIVEN_UP_AFTER = timedelta(hours=3)
# Silence never pads the audio past the recording's duration by more than this.
DURATION_SLACK_SECONDS = 5.0


class RecordingNotReadyError(ConflictError):
    """The recording is still recording, being finalised, or failed: nothing to transcribe."""


class RecordingTranscribedError(ConflictError):
    """The recording is transcribed already, or being transcribed, or was transcribed live."""


class TranscriptionConsentMissingError(ConflictError):
    """Someone whose voice the recording may hold has not allowed transcription of the visit."""


class RecordingAudioError(Exception):
    """The recording's media has no audio that decodes."""


# --- Asking -----------------------------------------------------------------------------------


def recording_transcription_request(
    *, user: User, recording_id, address: str = ""
) -> Transcription:
    """The visit's doctor asks for a ready recording to be transcribed; the worker does it
    once this commits. Refusals: NotSignedInError, NotYoursError/NotFoundError (404: not the
    doctor's visit, no such or a deleted recording), PermissionDeniedError (403: the patient,
    clinic staff), RecordingNotReadyError, RecordingTranscribedError and
    TranscriptionConsentMissingError (409)."""
    recording = recording_get(
        user=user, recording_id=recording_id, capability=Capability.TRANSCRIBE
    )
    if recording.status not in Recording.LISTED:
        raise NotFoundError(NO_SUCH_RECORDING)
    with transaction.atomic():
        # One request at a time per recording (PostgreSQL; SQLite serialises writes anyway).
        recording = Recording.objects.select_for_update().get(pk=recording.pk)
        if recording.status != Recording.Status.READY or not recording.media_name:
            raise RecordingNotReadyError(
                "This recording cannot be transcribed until it is ready "
                f"({recording.get_status_display().lower()})."
            )
        _fail_lost(recording)
        _require_not_transcribed(recording)
        _require_transcription_consent(recording)
        transcription = Transcription.objects.create(
            appointment_id=recording.appointment_id,
            requested_by=user,
            source=Source.RECORDING,
            status=Status.PROCESSING,
            recording=recording,
            engine=settings.TRANSCRIPTION_ENGINE,
            started_at=recording.started_at,
        )
        # A new part of the visit's transcript, asked for by its doctor (the worker's read of
        # the recording is logged as the system's, with this request as its reason).
        record_access(
            viewer=user,
            what=What.TRANSCRIPT,
            action=Action.CREATE,
            channel=Channel.API,
            appointment=recording.appointment,
            record=f"transcription {transcription.pk} of {recording_record_label(recording)}",
            address=address,
        )
        transaction.on_commit(lambda: schedule_recording_transcription(transcription.pk))
    return transcription


def _fail_lost(recording: Recording) -> None:
    recording.transcriptions.filter(
        status=Status.PROCESSING, requested_at__lt=timezone.now() - GIVEN_UP_AFTER
    ).update(
        status=Status.FAILED,
        ended_at=timezone.now(),
        failure="The worker did not finish it (it stopped, or the task was lost).",
    )


def _require_not_transcribed(recording: Recording) -> None:
    if recording.transcriptions.filter(status__in=(Status.PROCESSING, Status.DONE)).exists():
        raise RecordingTranscribedError("This recording is transcribed already, or being so.")
    if recording.started_at is None:
        return
    until = recording.ended_at or timezone.now()
    live_overlapping = Transcription.objects.filter(
        appointment_id=recording.appointment_id,
        source=Source.LIVE,
        started_at__isnull=False,
        started_at__lt=until,
    ).exclude(ended_at__lte=recording.started_at)
    if live_overlapping.exists():
        raise RecordingTranscribedError(
            "This visit was transcribed live while the recording ran: its transcript is the "
            "visit's already."
        )


def _require_transcription_consent(recording: Recording) -> None:
    allowed = CaptureConsent.Decision.ALLOWED
    # Anyone who ever allowed the recording may be heard in it (a later withdrawal stopped it,
    # it did not take their voice out of what was recorded before).
    heard = recording.consents.filter(decision=allowed).select_related("user").order_by("at", "pk")
    latest: dict[int, str] = {}
    for user_id, decision in (
        TranscriptionConsent.objects.filter(
            transcription__appointment_id=recording.appointment_id,
            transcription__source=Source.LIVE,
        )
        .order_by("at", "pk")
        .values_list("user_id", "decision")
    ):
        latest[user_id] = decision
    missing: dict[int, str] = {}
    for consent in heard:
        if latest.get(consent.user_id) != allowed:
            role = consent.get_role_display().lower()
            missing[consent.user_id] = f"the {role} ({consent.user.display_name})"
    if missing:
        raise TranscriptionConsentMissingError(
            "Consent to transcription is missing: everyone in the recording must have allowed "
            "transcription of this visit, and "
            f"{', '.join(missing.values())} has not. Ask them to allow transcription in the "
            "visit first."
        )


# --- Doing it (the worker) --------------------------------------------------------------------

# Failures of the input or the setup, told in `failure`; anything else is also a bug, raised on
# after the transcription is marked failed (the task keeps the traceback).
_EXPECTED_FAILURES = (
    RecordingAudioError,
    EncryptedFileError,
    av.error.FFmpegError,
    OpenAIError,
    ModelMismatch,
    UnknownEngine,
    ApplicationError,
)


def recording_transcribe(*, transcription_id: int) -> None:
    """Transcribe the recording of a processing transcription: done with its segments, or
    failed with the reason; never left processing. A no-op on any other transcription."""
    transcription = (
        Transcription.objects.select_related("recording", "appointment__patient")
        .filter(pk=transcription_id, source=Source.RECORDING)
        .first()
    )
    if transcription is None or transcription.status != Status.PROCESSING:
        return
    try:
        finals = _transcribe(transcription)
        _complete(transcription, finals)
    except Exception as error:
        reason = _reason(error)
        _fail(transcription, reason)
        if not isinstance(error, _EXPECTED_FAILURES):
            logger.exception("Transcription %s of a recording failed", transcription.pk)
            raise
        logger.warning("Transcription %s of a recording failed: %s", transcription.pk, reason)


def _transcribe(transcription: Transcription) -> list:
    recording = transcription.recording
    if recording.status != Recording.Status.READY or not recording.media_name:
        raise RecordingAudioError(
            "The recording is no longer there to transcribe "
            f"({recording.get_status_display().lower()})."
        )
    media = open_decrypted(recording.media_name, context=media_context(recording.id))
    record_access(
        viewer=None,
        what=What.RECORDING,
        action=Action.VIEW,
        channel=Channel.SYSTEM,
        appointment=transcription.appointment,
        record=recording_record_label(recording),
        reason=f"transcribed as the visit's doctor asked (transcription {transcription.pk})",
    )
    pcm = recording_pcm(media, duration_seconds=recording.duration_seconds)
    options = transcription_options_get(
        appointment_id=transcription.appointment_id,
        user=None,
        channel=Channel.SYSTEM,
        reason="the speech engine's vocabulary for transcribing the visit's recording",
    )
    return recording_engine_get(transcription.engine).transcribe(pcm, options)


def _complete(transcription: Transcription, finals: list) -> None:
    with transaction.atomic():
        current = Transcription.objects.select_for_update().get(pk=transcription.pk)
        if current.status != Status.PROCESSING:
            return  # finished by another run meanwhile
        for final in finals:
            segment_store(
                transcription=current,
                speaker=None,  # a recording's audio is mixed: nobody to name
                speaker_role="",
                speaker_name="",
                start_ms=final.start_ms,
                end_ms=final.end_ms,
                text=final.text,
                engine=current.engine,
            )
        current.status = Status.DONE
        current.ended_at = timezone.now()
        current.failure = ""
        current.save(update_fields=["status", "ended_at", "failure"])
        record_access(
            viewer=None,
            what=What.TRANSCRIPT,
            action=Action.CREATE,
            channel=Channel.SYSTEM,
            appointment=transcription.appointment,
            record=f"{Transcription._meta.label_lower} {current.pk}",
        )


def _fail(transcription: Transcription, reason: str) -> None:
    Transcription.objects.filter(pk=transcription.pk, status=Status.PROCESSING).update(
        status=Status.FAILED, failure=reason, ended_at=timezone.now()
    )


def _reason(error: Exception) -> str:
    if isinstance(error, _EXPECTED_FAILURES):
        return str(error) or type(error).__name__
    return f"Unexpected error: {type(error).__name__}: {error}"


# --- The engine and the audio -----------------------------------------------------------------

_engines: dict[tuple, Engine] = {}


def recording_engine_get(name: str) -> Engine:
    """The engine `name`, built once per worker process (the local one loads its model)."""
    values = engine_settings(name)
    if name == "openai-realtime":
        values["file_model"] = settings.OPENAI_FILE_TRANSCRIPTION_MODEL
    key = (name, tuple(sorted(values.items())))
    if key not in _engines:
        _engines[key] = get_engine(name, **values)
    return _engines[key]


class DecryptedReader(io.RawIOBase):
    """A decrypted recording as a seekable binary file (what PyAV opens), decrypting one
    encryption block at a time and keeping the last one read."""

    def __init__(self, media: DecryptedFile) -> None:
        self.media = media
        self.position = 0
        self._window_start = -1
        self._window = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.media.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer) -> int:
        if self.position >= self.media.size:
            return 0
        start = self.position - self.position % BLOCK_SIZE
        if start != self._window_start:
            self._window = b"".join(self.media.iter_range(start, start + BLOCK_SIZE))
            self._window_start = start
        piece = self._window[self.position - start : self.position - start + len(buffer)]
        buffer[: len(piece)] = piece
        self.position += len(piece)
        return len(piece)


def recording_pcm(media: DecryptedFile, *, duration_seconds: float | None) -> bytearray:
    """The recording's audio as 16 kHz mono s16le, decoded and resampled as it is read (only
    the result is held: 32 kB a second). Gaps in its timeline are kept as silence."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    pcm = bytearray()
    most_samples = None
    if duration_seconds:
        most_samples = round((duration_seconds + DURATION_SLACK_SECONDS) * SAMPLE_RATE)
    with av.open(DecryptedReader(media), mode="r") as container:
        if not container.streams.audio:
            raise RecordingAudioError("The recording has no audio to transcribe.")
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            if frame.time is not None:
                _pad_to(pcm, round(frame.time * SAMPLE_RATE), most_samples)
            for resampled in resampler.resample(frame):
                pcm += resampled.to_ndarray().tobytes()
        for resampled in resampler.resample(None):
            pcm += resampled.to_ndarray().tobytes()
    if not pcm:
        raise RecordingAudioError("The recording's audio has no sound that decodes.")
    return pcm


def _pad_to(pcm: bytearray, sample: int, most_samples: int | None) -> None:
    if most_samples is not None:
        sample = min(sample, most_samples)
    missing = sample - len(pcm) // BYTES_PER_SAMPLE
    if missing >= GAP_SECONDS * SAMPLE_RATE:
        pcm += bytes(missing * BYTES_PER_SAMPLE)
