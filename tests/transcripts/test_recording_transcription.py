"""Transcribing a recording after the visit: who may ask and when (the doctor, a ready recording,
everyone in it consenting to transcription, once), and the worker's run: real WebM/Opus media of
the synthetic dialogue, decrypted and decoded, through the local engine (or OpenAI's file
endpoint on the stand-in), into segments with no speaker; a failure marks it failed."""

import io
import signal
from datetime import timedelta
from fractions import Fraction

import av
import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from clinic.errors import NotYoursError, PermissionDeniedError
from clinic.integrations.openai.errors import OpenAIError
from rooms.consent.models import CaptureConsent
from rooms.recordings.encryption import open_decrypted
from rooms.recordings.models import Recording
from rooms.recordings.storage import media_context
from rooms.transcripts.models import Transcription, TranscriptionConsent
from rooms.transcripts.services import recording as service
from rooms.transcripts.services.recording import (
    RecordingNotReadyError,
    RecordingTranscribedError,
    TranscriptionConsentMissingError,
    recording_transcribe,
    recording_transcription_request,
)
from tests.factories import make_doctor
from tests.recordings.factories import make_ready_recording, make_recording
from tests.transcripts import dialogue as script
from visits.models import AccessLogEntry, Role

pytestmark = pytest.mark.django_db

TASK_PATH = "rooms.transcripts.tasks.transcribe_recording"
# The first two turns of the dialogue (doctor, then patient): about seven seconds.
TURNS = 2
# tiny.en on espeak after Opus: measured 0.105 on these two turns (2 words of 19).
MAX_WER = 0.25
STANDIN_MAX_WER = 0.5
OPENAI_KEY = "sk-clinic-test-recording-0123456789"
Allowed = CaptureConsent.Decision.ALLOWED


@pytest.fixture(autouse=True)
def _recordings(recordings_store):
    return recordings_store


@pytest.fixture(scope="module")
def dialogue() -> script.Dialogue:
    return script.synthesise()


@pytest.fixture(scope="module")
def dialogue_pcm(dialogue) -> bytes:
    """The first TURNS turns, both voices mixed as a recording hears them, 16 kHz s16le."""
    end_ms = dialogue.turns[TURNS - 1].end_ms + script.LEAD_MS
    doctor = np.frombuffer(dialogue.side_pcm(script.DOCTOR), dtype="<i2")[: end_ms * 16]
    patient = np.frombuffer(dialogue.side_pcm(script.PATIENT), dtype="<i2")[: end_ms * 16]
    return (doctor.astype(np.int32) + patient).clip(-32768, 32767).astype("<i2").tobytes()


def webm_of(pcm: bytes, *, gap_at_ms: int | None = None, gap_ms: int = 0) -> bytes:
    """`pcm` (16 kHz mono) as the recorder's WebM: Opus audio at 48 kHz beside a small VP8
    video track, interleaved in time; with `gap_at_ms`, the audio after it is stamped `gap_ms`
    later (as when chunks were lost)."""
    buffer = io.BytesIO()
    output = av.open(buffer, mode="w", format="webm")
    video = output.add_stream("libvpx", rate=5, options={"deadline": "realtime", "cpu-used": "16"})
    video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
    audio = output.add_stream("libopus", rate=48_000, layout="mono")
    audio.bit_rate = 32_000
    up = av.AudioResampler(format="s16", layout="mono", rate=48_000)
    frame = av.AudioFrame.from_ndarray(
        np.frombuffer(pcm, dtype="<i2").reshape(1, -1), format="s16", layout="mono"
    )
    frame.sample_rate = 16_000
    samples = np.concatenate(
        [f.to_ndarray().reshape(-1) for f in [*up.resample(frame), *up.resample(None)]]
    )
    samples = np.pad(samples, (0, -len(samples) % 960))
    pictures = len(samples) // 48_000 * 5 + 5
    next_picture = 0
    for offset in range(0, len(samples), 960):
        while next_picture * 9600 <= offset and next_picture < pictures:  # 5 a second
            picture = av.VideoFrame(64, 48, "yuv420p")
            for plane in picture.planes:
                plane.update(bytes([next_picture * 7 % 256]) * plane.buffer_size)
            picture.pts = next_picture
            picture.time_base = Fraction(1, 5)
            output.mux(video.encode(picture))
            next_picture += 1
        piece = av.AudioFrame.from_ndarray(
            samples[offset : offset + 960].reshape(1, -1), format="s16", layout="mono"
        )
        late = gap_ms * 48 if gap_at_ms is not None and offset >= gap_at_ms * 48 else 0
        piece.sample_rate, piece.pts = 48_000, offset + late
        output.mux(audio.encode(piece))
    output.mux(audio.encode(None))
    output.mux(video.encode(None))
    output.close()
    return buffer.getvalue()


@pytest.fixture(scope="module")
def dialogue_webm(dialogue_pcm) -> bytes:
    return webm_of(dialogue_pcm)


def consent_to_transcription(appointment, *decisions):
    """A live transcription of the visit that ran before the recording, with each (user, role,
    decision) given, in order."""
    before = timezone.now() - timedelta(hours=1)
    transcription = Transcription.objects.create(
        appointment=appointment,
        requested_by=appointment.doctor.user,
        source=Transcription.Source.LIVE,
        status=Transcription.Status.DONE,
        engine="local",
        started_at=before,
        ended_at=before + timedelta(minutes=5),
    )
    for user, role, decision in decisions:
        TranscriptionConsent.objects.create(
            transcription=transcription, user=user, role=role, decision=decision
        )
    return transcription


def everyone_allows(appointment):
    return consent_to_transcription(
        appointment,
        (appointment.doctor.user, Role.DOCTOR, Allowed),
        (appointment.patient.user, Role.PATIENT, Allowed),
    )


@pytest.fixture
def consented(dialogue_webm):
    """A ready recording of the dialogue, everyone in it having allowed transcription."""
    recording = make_ready_recording(media=dialogue_webm)
    everyone_allows(recording.appointment)
    return recording


def ask(recording, user=None) -> Transcription:
    return recording_transcription_request(
        user=user or recording.appointment.doctor.user, recording_id=recording.pk
    )


@pytest.fixture
def signals_kept():
    """db_worker installs its own SIGINT/SIGTERM handlers; the test process keeps pytest's."""
    kept = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    yield
    for number, handler in kept.items():
        signal.signal(number, handler)


# --- The worker's run ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the worker takes its task in a transaction of its own
def test_the_worker_transcribes_the_recording_with_the_local_engine(
    consented, dialogue, django_capture_on_commit_callbacks, signals_kept
):
    with django_capture_on_commit_callbacks(execute=True):
        transcription = ask(consented)
    assert transcription.status == Transcription.Status.PROCESSING
    assert transcription.source == Transcription.Source.RECORDING
    assert transcription.engine == "local"
    [queued] = DBTaskResult.objects.filter(task_path=TASK_PATH, status=TaskResultStatus.READY)
    assert queued.args_kwargs["args"] == [transcription.pk]

    options = {"batch": True, "reload": False, "startup_delay": False, "verbosity": 0}
    call_command("recordings_worker", **options)

    queued.refresh_from_db()
    assert queued.status == TaskResultStatus.SUCCESSFUL
    transcription.refresh_from_db()
    assert transcription.status == Transcription.Status.DONE, transcription.failure
    segments = list(transcription.segments.order_by("start_ms"))
    heard = " ".join(segment.text for segment in segments)
    reference = " ".join(turn.text for turn in dialogue.turns[:TURNS])
    assert script.word_error_rate(reference, heard) <= MAX_WER, heard
    assert all(s.speaker_id is None and s.speaker_role == "" for s in segments)
    assert all(
        s.engine == "local" and s.appointment_id == consented.appointment_id for s in segments
    )
    # Times are the recording's (Whisper may join both turns in one segment): the speech is
    # heard where it was said.
    first, last = dialogue.turns[0], dialogue.turns[TURNS - 1]
    assert abs(segments[0].start_ms - first.start_ms) < 700, segments
    assert abs(segments[-1].end_ms - last.end_ms) < 700, segments
    logged = set(
        AccessLogEntry.objects.filter(
            appointment=consented.appointment, viewer=None, channel=AccessLogEntry.Channel.SYSTEM
        ).values_list("what", "action")
    )
    assert {
        (AccessLogEntry.What.RECORDING, AccessLogEntry.Action.VIEW),
        (AccessLogEntry.What.CHART, AccessLogEntry.Action.VIEW),
        (AccessLogEntry.What.TRANSCRIPT, AccessLogEntry.Action.CREATE),
    } <= logged


@pytest.mark.slow
def test_openai_realtime_sends_the_recording_to_the_file_endpoint(
    consented, dialogue, settings, openai_standin
):
    settings.TRANSCRIPTION_ENGINE = "openai-realtime"
    settings.OPENAI_BASE_URL = openai_standin.base_url
    settings.OPENAI_API_KEY = OPENAI_KEY
    settings.OPENAI_FILE_TRANSCRIPTION_MODEL = "whisper-1"

    transcription = ask(consented)
    recording_transcribe(transcription_id=transcription.pk)

    transcription.refresh_from_db()
    assert transcription.engine == "openai-realtime"
    assert transcription.status == Transcription.Status.DONE, transcription.failure
    posts = [r for r in openai_standin.requests() if r["path"] == "/v1/audio/transcriptions"]
    assert posts and all(r["method"] == "POST" for r in posts)
    assert all(r["form"]["model"] == "whisper-1" for r in posts)
    assert all(r["headers"]["Authorization"] == f"Bearer {OPENAI_KEY}" for r in posts)
    # The audio went: WAV at 16 kHz, covering the speech (at least the two turns' length).
    speech_ms = sum(t.end_ms - t.start_ms for t in dialogue.turns[:TURNS])
    assert sum(r["form"]["file"]["bytes"] for r in posts) >= speech_ms * 32
    # The visit's vocabulary went as the prompt (make_appointment's reason).
    assert all("persistent cough" in r["form"]["prompt"].lower() for r in posts)
    heard = " ".join(s.text for s in transcription.segments.all())
    reference = " ".join(turn.text for turn in dialogue.turns[:TURNS])
    # The stand-in's own small model mishears the patient's British voice more (measured 0.33).
    assert script.word_error_rate(reference, heard) <= STANDIN_MAX_WER, heard
    assert not transcription.segments.exclude(speaker=None).exists()


@pytest.fixture(scope="module")
def openai_standin():
    from standins.openai.testkit import running_standin

    with running_standin(api_key=OPENAI_KEY) as running:
        yield running


class BrokenEngine:
    name = "local"

    def __init__(self, error: Exception):
        self.error = error

    def transcribe(self, pcm, options):
        raise self.error


def test_an_engine_that_fails_leaves_it_failed_with_the_reason(consented, monkeypatch):
    refusal = OpenAIError("The transcription service is unavailable (503).")
    monkeypatch.setattr(service, "recording_engine_get", lambda name: BrokenEngine(refusal))
    transcription = ask(consented)

    recording_transcribe(transcription_id=transcription.pk)

    transcription.refresh_from_db()
    assert transcription.status == Transcription.Status.FAILED
    assert transcription.failure == "The transcription service is unavailable (503)."
    assert not transcription.segments.exists()


def test_an_unexpected_error_fails_it_too_and_is_raised_for_the_task(consented, monkeypatch):
    broken = BrokenEngine(ZeroDivisionError("division by zero"))
    monkeypatch.setattr(service, "recording_engine_get", lambda name: broken)
    transcription = ask(consented)

    with pytest.raises(ZeroDivisionError):
        recording_transcribe(transcription_id=transcription.pk)

    transcription.refresh_from_db()
    assert transcription.status == Transcription.Status.FAILED
    assert "ZeroDivisionError: division by zero" in transcription.failure


def test_media_that_does_not_decode_fails_it():
    recording = make_ready_recording(media=b"\x1a\x45\xdf\xa3 not really a webm file" * 50)
    everyone_allows(recording.appointment)
    transcription = ask(recording)

    recording_transcribe(transcription_id=transcription.pk)

    transcription.refresh_from_db()
    assert transcription.status == Transcription.Status.FAILED
    assert transcription.failure


def test_a_gap_in_the_recordings_audio_is_kept_as_silence():
    tone = (8000 * np.sin(np.arange(16_000) * 2 * np.pi * 440 / 16_000)).astype("<i2")
    recording = make_ready_recording(
        media=webm_of(np.tile(tone, 2).tobytes(), gap_at_ms=1000, gap_ms=1500)
    )

    pcm = service.recording_pcm(
        open_decrypted(recording.media_name, context=media_context(recording.id)),
        duration_seconds=None,
    )

    samples = np.abs(np.frombuffer(pcm, dtype="<i2"))
    assert abs(len(samples) - 3.5 * 16_000) < 1600  # 1 s, 1.5 s lost, 1 s
    loudness = samples[: len(samples) // 1600 * 1600].reshape(-1, 1600).max(axis=1)  # per 0.1 s
    assert loudness[2:9].min() > 2000 and loudness[26:33].min() > 2000
    assert loudness[11:24].max() < 200


def test_a_recording_deleted_before_the_worker_runs_fails_it(consented):
    transcription = ask(consented)
    Recording.objects.filter(pk=consented.pk).update(status=Recording.Status.DELETED, media_name="")

    recording_transcribe(transcription_id=transcription.pk)

    transcription.refresh_from_db()
    assert transcription.status == Transcription.Status.FAILED
    assert "no longer there" in transcription.failure


# --- Asking ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "patient_decisions",
    [
        [],
        [CaptureConsent.Decision.DECLINED],
        [Allowed, CaptureConsent.Decision.WITHDRAWN],
    ],
    ids=["never-asked", "declined", "withdrawn"],
)
def test_it_is_refused_unless_everyone_in_the_recording_allowed_transcription(
    patient_decisions, django_capture_on_commit_callbacks
):
    recording = make_ready_recording(media=b"media")
    appointment = recording.appointment
    patient = appointment.patient.user
    consent_to_transcription(
        appointment,
        (appointment.doctor.user, Role.DOCTOR, Allowed),
        *[(patient, Role.PATIENT, decision) for decision in patient_decisions],
    )

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(TranscriptionConsentMissingError, match="Consent to transcription") as no,
    ):
        ask(recording)

    assert no.value.status_code == 409
    assert patient.display_name in no.value.message
    assert appointment.doctor.user.display_name not in no.value.message
    assert not Transcription.objects.filter(source=Transcription.Source.RECORDING).exists()
    assert not DBTaskResult.objects.filter(task_path=TASK_PATH).exists()


def test_the_patient_is_refused_and_another_doctor_told_there_is_no_such_recording():
    recording = make_ready_recording(media=b"media")
    everyone_allows(recording.appointment)

    with pytest.raises(PermissionDeniedError):
        ask(recording, user=recording.appointment.patient.user)
    with pytest.raises(NotYoursError) as refused:
        ask(recording, user=make_doctor().user)
    assert refused.value.status_code == 404
    assert not Transcription.objects.filter(source=Transcription.Source.RECORDING).exists()


@pytest.mark.parametrize(
    "status",
    [Recording.Status.RECORDING, Recording.Status.PROCESSING, Recording.Status.FAILED],
)
def test_a_recording_that_is_not_ready_is_refused(status):
    recording = make_recording(status=status)
    everyone_allows(recording.appointment)

    with pytest.raises(RecordingNotReadyError, match="until it is ready") as refused:
        ask(recording)
    assert refused.value.status_code == 409


@pytest.mark.parametrize("status", [Transcription.Status.PROCESSING, Transcription.Status.DONE])
def test_a_recording_is_transcribed_once(status):
    recording = make_ready_recording(media=b"media")
    everyone_allows(recording.appointment)
    first = ask(recording)
    Transcription.objects.filter(pk=first.pk).update(status=status)

    with pytest.raises(RecordingTranscribedError) as refused:
        ask(recording)
    assert refused.value.status_code == 409


def test_a_failed_transcription_may_be_tried_again():
    recording = make_ready_recording(media=b"media")
    everyone_allows(recording.appointment)
    first = ask(recording)
    Transcription.objects.filter(pk=first.pk).update(status=Transcription.Status.FAILED)

    again = ask(recording)
    assert again.pk != first.pk and again.status == Transcription.Status.PROCESSING


def test_a_transcription_the_worker_lost_is_failed_and_may_be_tried_again():
    recording = make_ready_recording(media=b"media")
    everyone_allows(recording.appointment)
    lost = ask(recording)
    Transcription.objects.filter(pk=lost.pk).update(
        requested_at=timezone.now() - service.GIVEN_UP_AFTER - timedelta(minutes=1)
    )

    again = ask(recording)

    lost.refresh_from_db()
    assert lost.status == Transcription.Status.FAILED and "did not finish" in lost.failure
    assert again.status == Transcription.Status.PROCESSING


def test_a_recording_transcribed_live_while_it_ran_is_refused():
    recording = make_ready_recording(media=b"media")
    live = everyone_allows(recording.appointment)
    # The live transcription was on during the recording (make_recording: a minute ago).
    Transcription.objects.filter(pk=live.pk).update(
        started_at=recording.started_at - timedelta(seconds=30), ended_at=recording.ended_at
    )

    with pytest.raises(RecordingTranscribedError, match="transcribed live"):
        ask(recording)


def test_the_doctors_request_is_in_the_access_log():
    recording = make_ready_recording(media=b"media")
    everyone_allows(recording.appointment)
    transcription = service.recording_transcription_request(
        user=recording.appointment.doctor.user, recording_id=recording.pk, address="192.0.2.4"
    )
    entry = AccessLogEntry.objects.health_data().get(what="transcript", action="create")
    assert (entry.viewer, entry.appointment, entry.channel, entry.address) == (
        recording.appointment.doctor.user,
        recording.appointment,
        "api",
        "192.0.2.4",
    )
    assert entry.record.startswith(f"transcription {transcription.pk} of ")
