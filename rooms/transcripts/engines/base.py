"""What every speech recognition engine offers, so the rest of the app never knows which runs.

Audio in is always 16-bit little-endian mono PCM at 16 kHz (SAMPLE_RATE): what the doctor's
page sends and what a recording is decoded to. Times out are milliseconds from the start of
the audio fed to that stream. Engines run in worker processes (rooms.transcripts.pool), never
on Daphne's event loop: every call here may block.
"""

from dataclasses import dataclass, field
from typing import Protocol

SAMPLE_RATE = 16_000
BYTES_PER_SAMPLE = 2


@dataclass(frozen=True)
class Partial:
    """What the engine thinks is being said in the turn under way (may change)."""

    text: str


@dataclass(frozen=True)
class Final:
    """A finished turn: its words will not change."""

    start_ms: int
    end_ms: int
    text: str


Event = Partial | Final


class StreamRecognizer(Protocol):
    """One speaker's audio, fed as it arrives."""

    def feed(self, pcm: bytes) -> list[Event]:
        """Take the next piece of audio (any whole number of samples); what it produced."""

    def finish(self) -> list[Event]:
        """The audio is over: the last turn's Final, if any. Nothing may be fed after."""


@dataclass(frozen=True)
class EngineOptions:
    """What the visit tells the engine: words likely to be said (the patient's medications,
    conditions, the doctor's name), as an initial prompt where the engine takes one."""

    prompt: str = ""
    language: str = "en"
    extra: dict = field(default_factory=dict)


class Engine(Protocol):
    name: str  # as TRANSCRIPTION_ENGINE names it, stored on each segment

    def open_stream(self, options: EngineOptions) -> StreamRecognizer: ...

    def transcribe(self, pcm: bytes, options: EngineOptions) -> list[Final]:
        """A whole recording's audio at once (after the visit)."""
