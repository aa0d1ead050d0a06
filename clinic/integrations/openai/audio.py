"""File transcription (`POST {base_url}/audio/transcriptions`, multipart/form-data)."""

import io
import wave
from dataclasses import dataclass

from clinic.integrations.openai.errors import OpenAIError
from clinic.integrations.openai.http import post

# verbose_json (segments with times) is whisper-1's; the gpt-4o transcription models answer
# json (text only), as the API documents.
VERBOSE_MODELS = frozenset({"whisper-1"})


@dataclass(frozen=True)
class TimedText:
    start: float  # seconds from the start of the file
    end: float
    text: str


@dataclass(frozen=True)
class FileTranscript:
    text: str
    segments: tuple[TimedText, ...]  # empty where the model gives no times


def wav_bytes(pcm: bytes, sample_rate: int) -> bytes:
    """s16le mono PCM as a WAV file (a format the endpoint takes)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm)
    return out.getvalue()


def transcribe_file(
    *,
    base_url: str,
    api_key: str,
    model: str,
    audio: bytes,
    filename: str = "audio.wav",
    language: str | None = None,
    prompt: str | None = None,
    timeout: float,
    max_retries: int = 2,
) -> FileTranscript:
    """The file's transcript; with segment times where the model gives them (whisper-1)."""
    verbose = model in VERBOSE_MODELS
    data: list[tuple[str, str]] = [
        ("model", model),
        ("response_format", "verbose_json" if verbose else "json"),
    ]
    if verbose:
        data.append(("timestamp_granularities[]", "segment"))
    if language:
        data.append(("language", language))
    if prompt:
        data.append(("prompt", prompt))
    response = post(
        f"{base_url.rstrip('/')}/audio/transcriptions",
        api_key=api_key,
        timeout=timeout,
        service="The transcription service",
        max_retries=max_retries,
        data=data,
        files={"file": (filename, audio, "application/octet-stream")},
    )
    try:
        body = response.json()
        text = body["text"].strip()
        segments = tuple(
            TimedText(float(s["start"]), float(s["end"]), s["text"].strip())
            for s in body.get("segments") or ()
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise OpenAIError("The transcription service's answer had no transcript.") from None
    return FileTranscript(text=text, segments=segments)
