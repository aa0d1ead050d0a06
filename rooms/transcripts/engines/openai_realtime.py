"""The `openai-realtime` engine: each stream is a Realtime API transcription session (server VAD
cuts turns, OpenAI transcribes each); a recording goes to the file transcription endpoint.

Built from plain values (no Django) in an engine worker process. Audio in is 16 kHz s16le mono
(base.SAMPLE_RATE), resampled to the API's 24 kHz with PyAV's resampler (stateful, so pieces
join without clicks). Times: speech_started's audio_start_ms and speech_stopped's audio_end_ms,
which count the audio sent since the session began — the same milliseconds as ours; the API's
audio_end_ms includes the silence that ended the turn, which we take off again.
"""

import logging

import av
import numpy as np

from clinic.integrations.openai.audio import FileTranscript, transcribe_file, wav_bytes
from clinic.integrations.openai.errors import OpenAIError
from clinic.integrations.openai.realtime import (
    SAMPLE_RATE as API_RATE,
)
from clinic.integrations.openai.realtime import (
    RealtimeTranscription,
    TranscriptionSettings,
)
from rooms.transcripts.engines.base import SAMPLE_RATE, EngineOptions, Event, Final, Partial

logger = logging.getLogger(__name__)

FINISH_TIMEOUT = 10.0  # seconds to wait for the last turns' transcripts
FILE_TIMEOUT = 300.0
FILE_CHUNK_GAP_MS = 700  # cut a recording at pauses at least this long
FILE_CHUNK_MAX_S = 60  # and into pieces no longer than this


def ms(samples: int, rate: int = SAMPLE_RATE) -> int:
    return samples * 1000 // rate


class To24kHz:
    def __init__(self) -> None:
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=API_RATE)

    def __call__(self, pcm: bytes | None) -> bytes:
        if pcm is None:
            frames = self._resampler.resample(None)
        else:
            samples = np.frombuffer(pcm, dtype="<i2").reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            frames = self._resampler.resample(frame)
        return b"".join(bytes(f.to_ndarray().astype("<i2").tobytes()) for f in frames)


class OpenAIRealtimeStream:
    def __init__(self, session: RealtimeTranscription, silence_ms: int) -> None:
        self.session = session
        self.silence_ms = silence_ms
        self.resample = To24kHz()
        self.fed_samples = 0
        self.starts: dict[str, int] = {}  # item id → start ms (speech_started)
        self.ends: dict[str, int] = {}  # item id → end ms (speech_stopped)
        self.texts: dict[str, str] = {}  # item id → the deltas so far
        self.pending: set[str] = set()  # committed, transcript not yet in
        self.speaking_since: int | None = None
        self.last_commit_ms = 0

    def feed(self, pcm: bytes) -> list[Event]:
        self.fed_samples += len(pcm) // 2
        self.session.append(self.resample(pcm))
        return self.translate(self.session.events())

    def translate(self, events: list[dict]) -> list[Event]:
        out: list[Event] = []
        for event in events:
            kind, item = event.get("type"), event.get("item_id")
            if kind == "input_audio_buffer.speech_started":
                self.starts[item] = event["audio_start_ms"]
                self.speaking_since = event["audio_start_ms"]
            elif kind == "input_audio_buffer.speech_stopped":
                self.ends[item] = max(
                    self.starts.get(item, 0), event["audio_end_ms"] - self.silence_ms
                )
                self.speaking_since = None
            elif kind == "input_audio_buffer.committed":
                self.pending.add(item)
                self.starts.setdefault(item, self.last_commit_ms)
                self.ends.setdefault(item, ms(self.fed_samples))
                self.last_commit_ms = self.ends[item]
            elif kind == "conversation.item.input_audio_transcription.delta":
                self.texts[item] = self.texts.get(item, "") + (event.get("delta") or "")
                out.append(Partial(text=self.texts[item].strip()))
            elif kind == "conversation.item.input_audio_transcription.completed":
                self.pending.discard(item)
                text = (event.get("transcript") or "").strip()
                if text:
                    out.append(Final(self.starts.get(item, 0), self.ends.get(item, 0), text))
                self.forget(item)
            elif kind == "conversation.item.input_audio_transcription.failed":
                # One turn lost is not the stream lost: say so in the log, carry on.
                self.pending.discard(item)
                logger.warning("OpenAI could not transcribe a turn: %s", event.get("error"))
                self.forget(item)
        return out

    def forget(self, item: str) -> None:
        for table in (self.starts, self.ends, self.texts):
            table.pop(item, None)

    def finish(self) -> list[Event]:
        """Commit a turn still under way, wait for every transcript still owed: their Finals."""
        try:
            self.session.append(self.resample(None))
            # A barrier: once session.updated is back, every event of the audio sent is in, so
            # we know whether the server's VAD is still inside a turn.
            seen: list[dict] = []
            self.session.send(
                {"type": "session.update", "session": self.session.settings.session()}
            )
            self.session.wait_for("session.updated", timeout=FINISH_TIMEOUT, seen=seen)
            out = self.translate(seen)
            if self.speaking_since is not None:
                self.session.commit()
                seen = []
                try:
                    committed = self.session.wait_for(
                        "input_audio_buffer.committed", timeout=FINISH_TIMEOUT, seen=seen
                    )
                    seen.append(committed)
                except OpenAIError as refusal:
                    # The server's VAD ended the turn as we committed: nothing left to commit.
                    if refusal.code != "input_audio_buffer_commit_empty":
                        raise
                out += self.translate(seen)
            while self.pending:
                seen = []
                done = self.session.wait_for(
                    "conversation.item.input_audio_transcription.completed",
                    timeout=FINISH_TIMEOUT,
                    seen=seen,
                )
                out += self.translate([*seen, done])
            return [event for event in out if isinstance(event, Final)]
        finally:
            self.session.close()


class OpenAIRealtimeEngine:
    name = "openai-realtime"

    def __init__(
        self, base_url: str, api_key: str, model: str, file_model: str = "gpt-4o-transcribe"
    ) -> None:
        """file_model: OPENAI_FILE_TRANSCRIPTION_MODEL (its default is the setting's default, so
        a caller that builds a live-only engine may leave it out)."""
        self.base_url = base_url
        self.api_key = api_key
        self.model = model
        self.file_model = file_model

    def open_stream(self, options: EngineOptions) -> OpenAIRealtimeStream:
        settings = TranscriptionSettings(
            model=self.model, language=options.language or None, prompt=options.prompt
        )
        session = RealtimeTranscription(
            base_url=self.base_url, api_key=self.api_key, settings=settings
        )
        session.connect()
        return OpenAIRealtimeStream(session, silence_ms=settings.silence_duration_ms)

    def transcribe(self, pcm: bytes, options: EngineOptions) -> list[Final]:
        """A recording, in pieces cut at pauses (so every Final has times, whichever model)."""
        finals = []
        for start, end in speech_chunks(pcm):
            transcript = self.transcribe_piece(pcm[start * 2 : end * 2], options)
            if transcript.segments:
                finals += [
                    Final(
                        ms(start) + round(s.start * 1000), ms(start) + round(s.end * 1000), s.text
                    )
                    for s in transcript.segments
                    if s.text
                ]
            elif transcript.text:
                finals.append(Final(ms(start), ms(end), transcript.text))
        return finals

    def transcribe_piece(self, pcm: bytes, options: EngineOptions) -> FileTranscript:
        return transcribe_file(
            base_url=self.base_url,
            api_key=self.api_key,
            model=self.file_model,
            audio=wav_bytes(pcm, SAMPLE_RATE),
            language=options.language or None,
            prompt=options.prompt or None,
            timeout=FILE_TIMEOUT,
        )


def speech_chunks(pcm: bytes) -> list[tuple[int, int]]:
    """(start, end) sample offsets of the speech in 16 kHz PCM, by faster-whisper's Silero VAD
    (bundled with it, no download), joined into pieces of at most FILE_CHUNK_MAX_S."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    spans = get_speech_timestamps(
        samples,
        VadOptions(min_silence_duration_ms=FILE_CHUNK_GAP_MS, speech_pad_ms=200),
    )
    chunks: list[tuple[int, int]] = []
    for span in spans:
        if (
            chunks
            and span["end"] - chunks[-1][0] <= FILE_CHUNK_MAX_S * SAMPLE_RATE
            and (span["start"] - chunks[-1][1] < FILE_CHUNK_GAP_MS * SAMPLE_RATE // 1000)
        ):
            chunks[-1] = (chunks[-1][0], span["end"])
        else:
            chunks.append((span["start"], span["end"]))
    return chunks
