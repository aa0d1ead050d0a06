"""A scripted doctor-patient clinic dialogue, spoken by two clearly different espeak-ng voices.

Test speech is synthesised, never downloaded. What the engine tests, the benchmark, the browser
tests (Chromium's `--use-file-for-fake-audio-capture`) and the stand-in tests share:

- `SCRIPT`: who says what, in order; `VISIT_VOCABULARY`: the prompt a visit would give the engine.
- `synthesise()`: each turn as 16 kHz mono s16le PCM and the dialogue's timeline (`Dialogue`).
- `Dialogue.side_pcm(speaker)` / `side_wav(speaker)`: the whole dialogue as heard by that
  speaker's microphone alone: their own turns where they speak, silence while the other speaks,
  so each side of a call carries only its own voice and the two play in step.
- `opus_round_trip()`: the audio through Opus at a WebRTC-like bitrate and back (PyAV).

Generated files are cached under var/cache/ (git-ignored), keyed by a hash of the script, the
voices and espeak-ng's version, so a second run costs nothing.
"""

import hashlib
import json
import re
import shutil
import subprocess
import wave
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 16_000
REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "var" / "cache" / "transcription-dialogue"

DOCTOR, PATIENT = "doctor", "patient"

# espeak-ng voice, pitch (0-99), words per minute: a lower US male and a higher British female,
# so a test that mixes the speakers up cannot pass by accident.
VOICES = {
    DOCTOR: ("en-us", 35, 155),
    PATIENT: ("en-gb+f3", 60, 140),
}

SCRIPT: tuple[tuple[str, str], ...] = (
    (DOCTOR, "Good morning. What brings you in today?"),
    (PATIENT, "I have had headaches for two weeks and I feel dizzy in the morning."),
    (DOCTOR, "Are you still taking the lisinopril for your blood pressure?"),
    (PATIENT, "Yes, ten milligrams every morning, and metformin twice a day."),
    (DOCTOR, "Your blood pressure today is one hundred and fifty over ninety."),
    (PATIENT, "Is that too high? I have been checking it at home."),
    (DOCTOR, "It is higher than we want. I will increase the lisinopril to twenty milligrams."),
    (PATIENT, "Should I keep taking the metformin as before?"),
    (DOCTOR, "Yes. Please get a blood test for your kidney function next week."),
    (PATIENT, "Thank you, doctor. I will book the appointment."),
)

VISIT_VOCABULARY = (
    "Clinic visit. Headaches, dizzy. Lisinopril, metformin, blood pressure, milligrams, "
    "kidney function, appointment."
)

# Silence between turns and around the dialogue: long enough for a voice-activity detector to
# call the turn over (the local engine waits ~0.5 s), short like a real conversation.
GAP_MS = 1200
LEAD_MS = 500


@dataclass(frozen=True)
class Turn:
    speaker: str
    text: str
    start_ms: int
    end_ms: int  # where this turn's synthesised speech ends in the dialogue


@dataclass(frozen=True)
class Dialogue:
    turns: tuple[Turn, ...]
    turn_pcm: tuple[bytes, ...]  # each turn's speech alone
    duration_ms: int
    directory: Path

    def turns_of(self, speaker: str) -> list[Turn]:
        return [turn for turn in self.turns if turn.speaker == speaker]

    def side_pcm(self, speaker: str) -> bytes:
        """The whole dialogue's length; this speaker's turns in place, silence elsewhere."""
        samples = np.zeros(self.duration_ms * SAMPLE_RATE // 1000, dtype="<i2")
        for turn, pcm in zip(self.turns, self.turn_pcm, strict=True):
            if turn.speaker == speaker:
                speech = np.frombuffer(pcm, dtype="<i2")
                first = turn.start_ms * SAMPLE_RATE // 1000
                samples[first : first + len(speech)] = speech
        return samples.tobytes()

    def side_wav(self, speaker: str) -> Path:
        """A WAV of side_pcm(speaker): Chromium's fake microphone for that participant."""
        path = self.directory / f"side-{speaker}.wav"
        if not path.exists():
            write_wav(path, self.side_pcm(speaker))
        return path

    def reference(self, speaker: str | None = None) -> str:
        """The words said (by one speaker, or everyone), for a word error rate."""
        return " ".join(turn.text for turn in self.turns if speaker in (None, turn.speaker))


def write_wav(path: Path, pcm: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm)
    tmp.replace(path)


def read_wav(path: Path) -> bytes:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        return _resample(wav.readframes(wav.getnframes()), wav.getframerate())


def _espeak() -> str:
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise RuntimeError("espeak-ng is not installed: run `make espeak` (Debian's espeak-ng).")
    return binary


@cache
def _espeak_version() -> str:
    return subprocess.run([_espeak(), "--version"], capture_output=True, text=True).stdout.strip()


def _resample(pcm: bytes, rate: int) -> bytes:
    if rate == SAMPLE_RATE:
        return pcm
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    frame = av.AudioFrame.from_ndarray(
        np.frombuffer(pcm, dtype="<i2").reshape(1, -1), format="s16", layout="mono"
    )
    frame.sample_rate = rate
    out = [f.to_ndarray().tobytes() for f in resampler.resample(frame)]
    out += [f.to_ndarray().tobytes() for f in resampler.resample(None)]
    return b"".join(out)


def _speak(text: str, speaker: str, path: Path) -> bytes:
    voice, pitch, speed = VOICES[speaker]
    raw = path.with_suffix(".espeak.wav")
    subprocess.run(
        [_espeak(), "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(raw), text],
        check=True,
        capture_output=True,
    )
    pcm = read_wav(raw)
    raw.unlink()
    write_wav(path, pcm)
    return pcm


def script_key() -> str:
    blob = json.dumps([SCRIPT, VOICES, GAP_MS, LEAD_MS, _espeak_version()])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@cache
def synthesise() -> Dialogue:
    """The dialogue, synthesised once per script (cached on disk and in this process)."""
    directory = CACHE / script_key()
    directory.mkdir(parents=True, exist_ok=True)
    turns, pcms = [], []
    at_ms = LEAD_MS
    for index, (speaker, text) in enumerate(SCRIPT):
        path = directory / f"turn-{index:02d}-{speaker}.wav"
        pcm = read_wav(path) if path.exists() else _speak(text, speaker, path)
        length_ms = len(pcm) * 1000 // (2 * SAMPLE_RATE)
        turns.append(Turn(speaker, text, at_ms, at_ms + length_ms))
        pcms.append(pcm)
        at_ms += length_ms + GAP_MS
    return Dialogue(tuple(turns), tuple(pcms), at_ms - GAP_MS + LEAD_MS, directory)


def opus_round_trip(pcm: bytes, bitrate: int = 24_000) -> bytes:
    """The audio encoded as Opus (48 kHz, as WebRTC sends it) and decoded back to 16 kHz mono:
    what a browser's received track would carry. Same length as the input, give or take the
    codec's lookahead, which is trimmed."""
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate = 48_000
    encoder.layout = "mono"
    encoder.format = "s16"
    encoder.bit_rate = bitrate
    encoder.time_base = Fraction(1, 48_000)
    decoder = av.CodecContext.create("libopus", "r")
    decoder.sample_rate = 48_000
    decoder.layout = "mono"
    up = av.AudioResampler(format="s16", layout="mono", rate=48_000)
    down = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)

    samples = np.frombuffer(pcm, dtype="<i2")
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    upsampled = list(up.resample(frame)) + list(up.resample(None))
    audio48 = np.concatenate([f.to_ndarray().reshape(-1) for f in upsampled])
    frame_size = 960  # 20 ms, as WebRTC
    audio48 = np.pad(audio48, (0, -len(audio48) % frame_size))
    out = []
    for offset in range(0, len(audio48), frame_size):
        chunk = av.AudioFrame.from_ndarray(
            audio48[offset : offset + frame_size].reshape(1, -1), format="s16", layout="mono"
        )
        chunk.sample_rate = 48_000
        chunk.pts = offset
        for packet in encoder.encode(chunk):
            out += decoder.decode(packet)
    for packet in encoder.encode(None):
        out += decoder.decode(packet)
    decoded = []
    for f in out:
        decoded += down.resample(f)
    decoded += down.resample(None)
    result = np.concatenate([f.to_ndarray().astype("<i2").reshape(-1) for f in decoded]).astype(
        "<i2"
    )
    # Opus delays its output by its lookahead (312 samples at 48 kHz): line it up again.
    lookahead = 312 * SAMPLE_RATE // 48_000
    result = result[lookahead : lookahead + len(samples)]
    return np.pad(result, (0, len(samples) - len(result))).tobytes()


_UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
_UNITS += "fifteen sixteen seventeen eighteen nineteen"
NUMBER_WORDS = {word: value for value, word in enumerate(_UNITS.split())}
NUMBER_WORDS |= {
    word: 10 * value
    for value, word in enumerate(
        ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"], 2
    )
}


def normalise(text: str) -> str:
    """Lower case, no punctuation, numbers as digits ("one hundred and fifty" → "150"): Whisper
    writes numbers either way, and a word error rate should not count that as a mistake."""
    # A comma or full stop ends a number ("ninety. Ten" is two); "|" marks it, then goes.
    marked = re.sub(r"[.,;:!?]", " | ", text.lower().replace("-", " "))
    words = re.sub(r"[^a-z0-9'| ]+", " ", marked).split()
    out: list[str] = []
    number: int | None = None
    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else ""
        if word in NUMBER_WORDS:
            number = (number or 0) + NUMBER_WORDS[word]
        elif word == "hundred" and number is not None:
            number *= 100
        elif word == "and" and number is not None and following in NUMBER_WORDS:
            continue
        else:
            if number is not None:
                out.append(str(number))
                number = None
            if word != "|":
                out.append(word)
    if number is not None:
        out.append(str(number))
    return " ".join(out)


def word_error_rate(reference: str, hypothesis: str) -> float:
    import jiwer

    return jiwer.wer(normalise(reference), normalise(hypothesis) or "<nothing>")
