"""`POST /v1/audio/transcriptions`: multipart/form-data with `file` and `model` (openai-python's
src/openai/resources/audio/transcriptions.py and types/audio/). Response formats json, text,
srt, verbose_json, vtt; the gpt-4o transcription models take json (and text) only, as the API
documents; `timestamp_granularities[]` only with verbose_json."""

import io

import av
import numpy as np
from aiohttp import web

from standins.openai.errors import http_error
from standins.openai.speech import WHISPER_RATE, Segment
from standins.openai.state import SPEECH

MODELS = (
    "whisper-1",
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-mini-transcribe-2025-12-15",
    "gpt-transcribe",
)
JSON_ONLY_MODELS = {
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-mini-transcribe-2025-12-15",
    "gpt-transcribe",
}
FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
FILE_TYPES = ("flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "wav", "webm")
MAX_FILE_BYTES = 25 * 1024 * 1024
LANGUAGE_NAMES = {
    "en": "english",
    "de": "german",
    "fr": "french",
    "es": "spanish",
    "it": "italian",
    "nl": "dutch",
    "pt": "portuguese",
    "ja": "japanese",
}


def decode(data: bytes) -> np.ndarray:
    """Any container PyAV reads → 16 kHz mono float samples."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=WHISPER_RATE)
    pieces = []
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(audio=0):
            pieces.extend(resampler.resample(frame))
        pieces.extend(resampler.resample(None))
    if not pieces:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate([piece.to_ndarray().reshape(-1) for piece in pieces])


def timestamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def srt(segments: list[Segment]) -> str:
    return "".join(
        f"{index}\n{timestamp(s.start, ',')} --> {timestamp(s.end, ',')}\n{s.text.strip()}\n\n"
        for index, s in enumerate(segments, start=1)
    )


def vtt(segments: list[Segment]) -> str:
    return "WEBVTT\n\n" + "".join(
        f"{timestamp(s.start, '.')} --> {timestamp(s.end, '.')}\n{s.text.strip()}\n\n"
        for s in segments
    )


async def read_form(request: web.Request) -> tuple[dict[str, list], dict | None]:
    """Fields (repeated ones as lists) and the file {filename, content_type, data}."""
    fields: dict[str, list] = {}
    upload = None
    reader = await request.multipart()
    async for part in reader:
        if part.name == "file" and part.filename is not None:
            data = await part.read(decode=False)
            upload = {
                "filename": part.filename,
                "content_type": part.headers.get("Content-Type"),
                "data": bytes(data),
            }
        elif part.name:
            fields.setdefault(part.name, []).append(await part.text())
    return fields, upload


async def transcriptions(request: web.Request) -> web.Response:
    if not request.content_type.startswith("multipart/form-data"):
        return http_error(
            400,
            "Invalid Content-Type header (expected multipart/form-data).",
        )
    fields, upload = await read_form(request)
    request["log_entry"]["form"] = {
        **{key: values if len(values) > 1 else values[0] for key, values in fields.items()},
        **(
            {
                "file": {
                    "filename": upload["filename"],
                    "content_type": upload["content_type"],
                    "bytes": len(upload["data"]),
                }
            }
            if upload
            else {}
        ),
    }

    def field(name: str, default: str | None = None) -> str | None:
        return fields.get(name, [default])[-1]

    if upload is None:
        return http_error(
            400,
            "Missing required parameter: 'file'.",
            param="file",
            code="missing_required_parameter",
        )
    model = field("model")
    if not model:
        return http_error(
            400,
            "Missing required parameter: 'model'.",
            param="model",
            code="missing_required_parameter",
        )
    if model not in MODELS:
        return http_error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    response_format = field("response_format", "json")
    if response_format not in FORMATS:
        return http_error(
            400,
            f"Invalid value: '{response_format}'. Supported values are: "
            + ", ".join(f"'{f}'" for f in FORMATS)
            + ".",
            param="response_format",
            code="invalid_value",
        )
    if model in JSON_ONLY_MODELS and response_format not in ("json", "text"):
        return http_error(
            400,
            f"response_format '{response_format}' is not compatible with model '{model}'. "
            "Use 'json' or 'text' instead.",
            param="response_format",
            code="unsupported_value",
        )
    granularities = fields.get("timestamp_granularities[]", [])
    if any(g not in ("word", "segment") for g in granularities):
        return http_error(
            400,
            "Invalid value for 'timestamp_granularities[]'. Supported "
            "values are: 'word' and 'segment'.",
            param="timestamp_granularities",
            code="invalid_value",
        )
    if granularities and response_format != "verbose_json":
        return http_error(
            400,
            "timestamp_granularities requires response_format 'verbose_json'.",
            param="timestamp_granularities",
            code="invalid_value",
        )
    extension = upload["filename"].rsplit(".", 1)[-1].lower() if "." in upload["filename"] else ""
    if extension not in FILE_TYPES:
        return http_error(
            400,
            "Invalid file format. Supported formats: " + str(list(FILE_TYPES)).replace("'", '"'),
            param="file",
            code="invalid_value",
        )
    if len(upload["data"]) > MAX_FILE_BYTES:
        return http_error(
            413,
            "Maximum content size limit (26214400) exceeded.",
            param="file",
            code="file_too_large",
        )
    try:
        temperature = float(field("temperature", "0"))
    except ValueError:
        return http_error(
            400,
            "Invalid type for 'temperature': expected a number.",
            param="temperature",
            code="invalid_type",
        )
    speech = request.app[SPEECH]
    try:
        samples = await speech.run(lambda: decode(upload["data"]))
    except (av.FFmpegError, ValueError, IndexError):
        return http_error(
            400, "Audio file might be corrupted or unsupported", param="file", code="invalid_value"
        )
    language = field("language")
    segments, detected = await speech.run(
        lambda: speech.transcribe(
            samples,
            language=language,
            prompt=field("prompt"),
            temperature=temperature,
            words="word" in granularities,
        )
    )
    text = "".join(s.text for s in segments).strip()
    seconds = round(samples.size / WHISPER_RATE, 3)
    if response_format == "text":
        return web.Response(text=text + "\n", content_type="text/plain")
    if response_format == "srt":
        return web.Response(text=srt(segments), content_type="text/plain")
    if response_format == "vtt":
        return web.Response(text=vtt(segments), content_type="text/plain")
    if response_format == "json":
        return web.json_response({"text": text, "usage": {"type": "duration", "seconds": seconds}})
    body = {
        "task": "transcribe",
        "language": LANGUAGE_NAMES.get(detected, detected),
        "duration": seconds,
        "text": text,
        "usage": {"type": "duration", "seconds": seconds},
    }
    if not granularities or "segment" in granularities:
        body["segments"] = [
            {
                "id": index,
                "seek": s.seek,
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "tokens": list(s.tokens),
                "temperature": s.temperature,
                "avg_logprob": s.avg_logprob,
                "compression_ratio": s.compression_ratio,
                "no_speech_prob": s.no_speech_prob,
            }
            for index, s in enumerate(segments)
        ]
    if "word" in granularities:
        body["words"] = [
            {"word": word, "start": start, "end": end}
            for s in segments
            for (start, end, word) in s.words
        ]
    return web.json_response(body)
