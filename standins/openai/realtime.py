"""`GET /v1/realtime?intent=transcription`: a Realtime API transcription session over WebSocket.

Follows openai-python's src/openai/types/realtime/ (GA shapes): session.created → the client's
session.update (a `transcription` session) → session.updated; input_audio_buffer.append of
base64 PCM (16-bit little-endian mono, 24 kHz, the only rate the API takes); with server_vad the
server detects turns (input_audio_buffer.speech_started / .speech_stopped / .committed,
conversation.item.added / .done) and transcribes each committed turn
(conversation.item.input_audio_transcription.delta … .completed, or .failed). Bad input gets an
`error` event and the session stays open, as the API's docs say of most errors.
"""

import asyncio
import base64
import binascii
import copy
import functools
import json
import logging
import re
import secrets

from aiohttp import WSMsgType, web

from standins.openai.errors import auth_failure, error_event, event_id
from standins.openai.speech import Speech, pcm16_to_float, resample, speech_spans
from standins.openai.state import API_KEY, SPEECH

logger = logging.getLogger(__name__)

RATE = 24_000
SAMPLE_BYTES = 2
MAX_APPEND_BYTES = 15 * 1024 * 1024  # "up to a maximum of 15 MiB" per append
MIN_COMMIT_MS = 100
VAD_EVERY_MS = 200  # how much new audio between two VAD passes
VAD_WINDOW_MS = 3000  # the VAD looks at the tail of the buffer only: its cost stays bounded
INVALID_KEY_CLOSE = 3000  # what the API closes with after an invalid_api_key error event

TRANSCRIPTION_MODELS = (  # types/realtime/audio_transcription.py
    "whisper-1",
    "gpt-transcribe",
    "gpt-live-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-mini-transcribe-2025-12-15",
    "gpt-4o-transcribe",
    "gpt-4o-transcribe-diarize",
    "gpt-realtime-whisper",
)
SESSION_KEYS = {"type", "audio", "include"}
AUDIO_INPUT_KEYS = {"format", "noise_reduction", "transcription", "turn_detection"}
TRANSCRIPTION_KEYS = {"model", "language", "prompt", "delay", "keywords", "languages"}
SERVER_VAD_KEYS = {
    "type",
    "threshold",
    "prefix_padding_ms",
    "silence_duration_ms",
    "create_response",
    "interrupt_response",
    "idle_timeout_ms",
}
SEMANTIC_VAD_KEYS = {"type", "eagerness", "create_response", "interrupt_response"}
SEMANTIC_SILENCE_MS = {"low": 1500, "medium": 800, "auto": 800, "high": 400}
OTHER_CLIENT_EVENTS = {
    "conversation.item.create",
    "conversation.item.delete",
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "response.create",
    "response.cancel",
    "output_audio_buffer.clear",
}


class SessionError(Exception):
    def __init__(self, message: str, *, code: str = "invalid_value", param: str | None = None):
        super().__init__(message)
        self.message, self.code, self.param = message, code, param


def default_session() -> dict:
    return {
        "type": "transcription",
        "id": f"sess_{secrets.token_hex(12)}",
        "object": "realtime.transcription_session",
        "expires_at": 0,
        "include": None,
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": RATE},
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 500,
                },
            }
        },
    }


def _unknown(given: dict, allowed: set[str], where: str) -> None:
    for key in given:
        if key not in allowed:
            raise SessionError(
                f"Unknown parameter: '{where}.{key}'.",
                code="unknown_parameter",
                param=f"{where}.{key}",
            )


def _object(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise SessionError(
            f"Invalid type for '{where}': expected an object, but got {type(value).__name__}.",
            code="invalid_type",
            param=where,
        )
    return value


def apply_session_update(current: dict, update) -> dict:
    """The effective session after `update` (only the fields present change), or SessionError."""
    update = _object(update, "session")
    _unknown(update, SESSION_KEYS, "session")
    if update.get("type") != "transcription":
        raise SessionError(
            "This stand-in serves transcription sessions only (connect with "
            f"?intent=transcription and session.type 'transcription'), got {update.get('type')!r}.",
            param="session.type",
        )
    session = copy.deepcopy(current)
    if "include" in update:
        include = update["include"]
        if include is not None and (
            not isinstance(include, list)
            or any(item != "item.input_audio_transcription.logprobs" for item in include)
        ):
            raise SessionError("Invalid value for 'session.include'.", param="session.include")
        session["include"] = include
    audio = _object(update.get("audio", {}), "session.audio")
    _unknown(audio, {"input"}, "session.audio")
    given = _object(audio.get("input", {}), "session.audio.input")
    _unknown(given, AUDIO_INPUT_KEYS, "session.audio.input")
    effective = session["audio"]["input"]
    if "format" in given:
        effective["format"] = _format(given["format"])
    if "transcription" in given:
        effective["transcription"] = _transcription(given["transcription"])
    if "turn_detection" in given:
        effective["turn_detection"] = _turn_detection(given["turn_detection"])
    if "noise_reduction" in given:
        effective["noise_reduction"] = _noise_reduction(given["noise_reduction"])
    return session


def _format(value) -> dict:
    where = "session.audio.input.format"
    value = _object(value, where)
    kind = value.get("type", "audio/pcm")
    if kind in ("audio/pcmu", "audio/pcma"):
        raise SessionError(
            f"This stand-in decodes 'audio/pcm' only, not {kind!r}.", param=f"{where}.type"
        )
    if kind != "audio/pcm":
        raise SessionError(
            f"Invalid value: '{kind}'. Supported values are: 'audio/pcm', 'audio/pcmu', and "
            "'audio/pcma'.",
            param=f"{where}.type",
        )
    rate = value.get("rate", RATE)
    if rate != RATE:
        raise SessionError(
            f"Invalid value: {rate}. Supported values are: 24000.", param=f"{where}.rate"
        )
    return {"type": "audio/pcm", "rate": RATE}


def _transcription(value) -> dict | None:
    where = "session.audio.input.transcription"
    if value is None:
        return None
    value = _object(value, where)
    _unknown(value, TRANSCRIPTION_KEYS, where)
    model = value.get("model")
    if model not in TRANSCRIPTION_MODELS:
        raise SessionError(
            f"Invalid value: {model!r}. Supported values are: "
            + ", ".join(f"'{name}'" for name in TRANSCRIPTION_MODELS)
            + ".",
            param=f"{where}.model",
        )
    for key in ("language", "prompt"):
        if key in value and value[key] is not None and not isinstance(value[key], str):
            raise SessionError(
                f"Invalid type for '{where}.{key}': expected a string.",
                code="invalid_type",
                param=f"{where}.{key}",
            )
    return {
        "model": model,
        "language": value.get("language"),
        "prompt": value.get("prompt", ""),
    }


def _turn_detection(value) -> dict | None:
    where = "session.audio.input.turn_detection"
    if value is None:
        return None
    value = _object(value, where)
    kind = value.get("type")
    if kind == "semantic_vad":
        _unknown(value, SEMANTIC_VAD_KEYS, where)
        return {"type": "semantic_vad", "eagerness": value.get("eagerness", "auto")}
    if kind != "server_vad":
        raise SessionError(
            f"Invalid value: {kind!r}. Supported values are: 'server_vad' and 'semantic_vad'.",
            param=f"{where}.type",
        )
    _unknown(value, SERVER_VAD_KEYS, where)
    threshold = value.get("threshold", 0.5)
    if not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
        raise SessionError(
            f"Invalid value for '{where}.threshold': expected a number from 0 to 1.",
            param=f"{where}.threshold",
        )
    detection = {"type": "server_vad", "threshold": float(threshold)}
    for key, default in (("prefix_padding_ms", 300), ("silence_duration_ms", 500)):
        number = value.get(key, default)
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise SessionError(
                f"Invalid value for '{where}.{key}': expected a non-negative integer.",
                param=f"{where}.{key}",
            )
        detection[key] = number
    return detection


def _noise_reduction(value) -> dict | None:
    where = "session.audio.input.noise_reduction"
    if value is None:
        return None
    value = _object(value, where)
    if value.get("type") not in ("near_field", "far_field"):
        raise SessionError(
            f"Invalid value: {value.get('type')!r}. Supported values are: 'near_field' and "
            "'far_field'.",
            param=f"{where}.type",
        )
    # Accepted and reported back; the stand-in does not filter (its test audio is clean).
    return {"type": value["type"]}


def item_id() -> str:
    return f"item_{secrets.token_hex(10)}"


def samples_ms(samples: int) -> int:
    return samples * 1000 // RATE


class TranscriptionSession:
    """One socket's state: the session, the input buffer, the VAD's view of it."""

    def __init__(self, ws: web.WebSocketResponse, speech: Speech, log_entry: dict) -> None:
        self.ws = ws
        self.speech = speech
        self.log = log_entry
        self.session = default_session()
        self.buffer = bytearray()  # audio since the last commit or clear
        self.buffer_start = 0  # its first sample, counted from the session's first audio
        self.unchecked = 0  # samples appended since the last VAD pass
        self.speech_item: str | None = None  # set while the VAD hears speech
        self.speech_start = 0
        self.previous_item: str | None = None
        self.turns: asyncio.Queue = asyncio.Queue()
        self.send_lock = asyncio.Lock()

    async def send(self, event: dict) -> None:
        event.setdefault("event_id", event_id())
        async with self.send_lock:
            if not self.ws.closed:
                await self.ws.send_str(json.dumps(event))

    async def error(self, message: str, **fields) -> None:
        await self.send(error_event(message, **fields))

    @property
    def input(self) -> dict:
        return self.session["audio"]["input"]

    async def run(self) -> None:
        await self.send({"type": "session.created", "session": self.session})
        transcriber = asyncio.create_task(self.transcribe_turns())
        try:
            async for message in self.ws:
                if message.type == WSMsgType.TEXT:
                    await self.handle(message.data)
                elif message.type == WSMsgType.BINARY:
                    await self.error(
                        "Binary frames are not supported: send JSON events as text.",
                        code="invalid_type",
                    )
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            transcriber.cancel()

    async def handle(self, data: str) -> None:
        try:
            event = json.loads(data)
        except ValueError:
            await self.error(
                "We could not parse the JSON body of your request.", code="invalid_json"
            )
            return
        if not isinstance(event, dict):
            await self.error("The event must be a JSON object.", code="invalid_type")
            return
        kind = event.get("type")
        client_event = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        self.record(event)
        if kind == "session.update":
            try:
                self.session = apply_session_update(self.session, event.get("session"))
            except SessionError as refusal:
                await self.error(
                    refusal.message,
                    code=refusal.code,
                    param=refusal.param,
                    client_event_id=client_event,
                )
                return
            await self.send({"type": "session.updated", "session": self.session})
        elif kind == "input_audio_buffer.append":
            await self.append(event, client_event)
        elif kind == "input_audio_buffer.commit":
            await self.commit(client_event)
        elif kind == "input_audio_buffer.clear":
            self.buffer.clear()
            self.buffer_start = self.total_samples
            self.speech_item = None
            self.unchecked = 0
            await self.send({"type": "input_audio_buffer.cleared"})
        elif kind in OTHER_CLIENT_EVENTS:
            await self.error(
                f"'{kind}' is not supported in a transcription session.",
                code="invalid_value",
                param="type",
                client_event_id=client_event,
            )
        else:
            await self.error(
                f"Invalid value: {kind!r}. Supported values are: 'session.update', "
                "'input_audio_buffer.append', 'input_audio_buffer.commit', "
                "'input_audio_buffer.clear'.",
                code="invalid_value",
                param="type",
                client_event_id=client_event,
            )

    def record(self, event: dict) -> None:
        """Into the request log: every event but the audio itself (its size only)."""
        if event.get("type") == "input_audio_buffer.append":
            self.log["appends"] = self.log.get("appends", 0) + 1
            return
        self.log.setdefault("events", []).append(event)

    @property
    def total_samples(self) -> int:
        return self.buffer_start + len(self.buffer) // SAMPLE_BYTES

    async def append(self, event: dict, client_event: str | None) -> None:
        audio = event.get("audio")
        if not isinstance(audio, str):
            await self.error(
                "Missing required parameter: 'audio'.",
                code="missing_required_parameter",
                param="audio",
                client_event_id=client_event,
            )
            return
        try:
            pcm = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            await self.error(
                "Invalid 'audio': not valid base64.",
                code="invalid_value",
                param="audio",
                client_event_id=client_event,
            )
            return
        if len(pcm) > MAX_APPEND_BYTES or len(pcm) % SAMPLE_BYTES:
            await self.error(
                "Invalid 'audio': expected whole 16-bit samples, at most 15 MiB per event.",
                code="invalid_value",
                param="audio",
                client_event_id=client_event,
            )
            return
        self.log["audio_bytes"] = self.log.get("audio_bytes", 0) + len(pcm)
        self.buffer += pcm
        self.unchecked += len(pcm) // SAMPLE_BYTES
        if self.input["turn_detection"] and self.unchecked >= RATE * VAD_EVERY_MS // 1000:
            self.unchecked = 0
            await self.detect_turns()

    def silence_ms(self) -> int:
        detection = self.input["turn_detection"]
        if detection["type"] == "semantic_vad":
            return SEMANTIC_SILENCE_MS.get(detection.get("eagerness"), 800)
        return detection["silence_duration_ms"]

    async def detect_turns(self) -> None:
        detection = self.input["turn_detection"]
        threshold = detection.get("threshold", 0.5)
        prefix = RATE * detection.get("prefix_padding_ms", 300) // 1000
        silence = RATE * self.silence_ms() // 1000
        buffered = len(self.buffer) // SAMPLE_BYTES
        window_from = max(0, buffered - RATE * VAD_WINDOW_MS // 1000)
        window = pcm16_to_float(bytes(self.buffer[window_from * SAMPLE_BYTES :]))
        spans = await self.speech.run_vad(
            lambda: speech_spans(
                resample(window, RATE), threshold=threshold, min_silence_ms=self.silence_ms()
            )
        )
        # back to 24 kHz samples from the buffer's start
        spans = [(window_from + start * 3 // 2, window_from + end * 3 // 2) for start, end in spans]
        if self.speech_item is None:
            if not spans:
                keep = prefix + RATE // 2  # silence: keep only what a prefix could need
                if buffered > keep:
                    self.drop_front(buffered - keep)
                return
            self.speech_item = item_id()
            self.speech_start = self.buffer_start + max(0, spans[0][0] - prefix)
            await self.send(
                {
                    "type": "input_audio_buffer.speech_started",
                    "audio_start_ms": samples_ms(self.speech_start),
                    "item_id": self.speech_item,
                }
            )
        last_end = spans[-1][1] if spans else window_from
        if buffered - last_end >= silence:
            end = self.buffer_start + last_end + silence
            item = self.speech_item
            self.speech_item = None
            await self.send(
                {
                    "type": "input_audio_buffer.speech_stopped",
                    "audio_end_ms": samples_ms(end),
                    "item_id": item,
                }
            )
            turn = bytes(
                self.buffer[
                    (self.speech_start - self.buffer_start) * SAMPLE_BYTES : (
                        end - self.buffer_start
                    )
                    * SAMPLE_BYTES
                ]
            )
            self.drop_front(end - self.buffer_start)
            await self.committed(item, turn)

    def drop_front(self, samples: int) -> None:
        del self.buffer[: samples * SAMPLE_BYTES]
        self.buffer_start += samples

    async def commit(self, client_event: str | None) -> None:
        buffered_ms = samples_ms(len(self.buffer) // SAMPLE_BYTES)
        if buffered_ms < MIN_COMMIT_MS:
            await self.error(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {buffered_ms:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
                client_event_id=client_event,
            )
            return
        turn = bytes(self.buffer)
        self.drop_front(len(self.buffer) // SAMPLE_BYTES)
        self.speech_item = None  # a manual commit ends the VAD's turn too
        self.unchecked = 0
        await self.committed(item_id(), turn)

    async def committed(self, item: str, turn: bytes) -> None:
        await self.send(
            {
                "type": "input_audio_buffer.committed",
                "item_id": item,
                "previous_item_id": self.previous_item,
            }
        )
        message = {
            "id": item,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        for kind in ("conversation.item.added", "conversation.item.done"):
            await self.send({"type": kind, "previous_item_id": self.previous_item, "item": message})
        self.previous_item = item
        transcription = self.input["transcription"]
        if transcription is not None:  # transcription is off until a session.update sets it
            await self.turns.put((item, turn, dict(transcription)))

    async def transcribe_turns(self) -> None:
        """In order, one turn at a time, beside the socket's reading (as the API does)."""
        while True:
            item, turn, transcription = await self.turns.get()
            try:
                samples = resample(pcm16_to_float(turn), RATE)
                segments, _language = await self.speech.run(
                    functools.partial(
                        self.speech.transcribe,
                        samples,
                        language=transcription["language"],
                        prompt=transcription["prompt"],
                    )
                )
            except Exception as failure:  # the model failed on this turn: say so, go on
                logger.exception("transcription failed")
                await self.send(
                    {
                        "type": "conversation.item.input_audio_transcription.failed",
                        "item_id": item,
                        "content_index": 0,
                        "error": {
                            "type": "server_error",
                            "code": None,
                            "message": str(failure),
                            "param": None,
                        },
                    }
                )
                continue
            transcript = "".join(segment.text for segment in segments).strip()
            for delta in re.findall(r"\S+\s*", transcript):
                await self.send(
                    {
                        "type": "conversation.item.input_audio_transcription.delta",
                        "item_id": item,
                        "content_index": 0,
                        "delta": delta,
                    }
                )
            seconds = round(samples.size / 16_000, 3)
            await self.send(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": item,
                    "content_index": 0,
                    "transcript": transcript,
                    "usage": usage(transcription["model"], seconds, segments),
                }
            )


def usage(model: str, seconds: float, segments) -> dict:
    if model == "whisper-1":
        return {"type": "duration", "seconds": seconds}
    audio_tokens = int(seconds * 10)
    output = sum(len(segment.tokens) for segment in segments)
    return {
        "type": "tokens",
        "input_tokens": audio_tokens,
        "output_tokens": output,
        "total_tokens": audio_tokens + output,
        "input_token_details": {"audio_tokens": audio_tokens, "text_tokens": 0},
    }


async def realtime(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=MAX_APPEND_BYTES * 2, heartbeat=None)
    await ws.prepare(request)
    entry = request["log_entry"]
    failure = auth_failure(request.headers.get("Authorization"), request.app[API_KEY])
    if failure is not None:
        # The API accepts the upgrade, then says why in an error event and closes (3000).
        error = failure["error"]
        await ws.send_str(json.dumps(error_event(error["message"], code=error["code"])))
        await ws.close(code=INVALID_KEY_CLOSE, message=b"invalid_request_error.invalid_api_key")
        return ws
    if request.query.get("intent") != "transcription":
        await ws.send_str(
            json.dumps(
                error_event(
                    "This stand-in serves transcription sessions only: connect with "
                    "?intent=transcription.",
                    code="invalid_value",
                    param="intent",
                )
            )
        )
        await ws.close(code=1008, message=b"transcription sessions only")
        return ws
    session = TranscriptionSession(ws, request.app[SPEECH], entry)
    await session.run()
    return ws
