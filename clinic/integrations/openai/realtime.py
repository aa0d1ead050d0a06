"""A Realtime API transcription session over WebSocket (`{base_url}/realtime?intent=transcription`,
the http(s) base URL's scheme turned into ws(s), as openai-python does), blocking, for one
thread of an engine worker process: `connect()`, `append()` 24 kHz PCM, `events()` without
waiting, `wait_for()` when it must, `close()`.

    session = RealtimeTranscription(base_url=..., api_key=..., model="gpt-4o-transcribe")
    session.connect()
    session.append(pcm_24k)
    for event in session.events(): ...
"""

import base64
import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from clinic.integrations.openai.errors import OpenAIError

SAMPLE_RATE = 24_000  # the only rate the API takes for audio/pcm
SERVICE = "The realtime transcription service"


def realtime_url(base_url: str) -> str:
    parts = urlsplit(base_url.rstrip("/"))
    scheme = "ws" if parts.scheme == "http" else "wss"
    return urlunsplit((scheme, parts.netloc, f"{parts.path}/realtime", "intent=transcription", ""))


@dataclass(frozen=True)
class TranscriptionSettings:
    model: str
    language: str | None = "en"
    prompt: str = ""
    silence_duration_ms: int = 500
    prefix_padding_ms: int = 300
    vad_threshold: float = 0.5
    noise_reduction: str | None = "near_field"

    def session(self) -> dict:
        """The session.update's `session`: a transcription session (types/realtime/
        realtime_transcription_session_create_request.py)."""
        transcription: dict = {"model": self.model}
        if self.language:
            transcription["language"] = self.language
        if self.prompt:
            transcription["prompt"] = self.prompt
        return {
            "type": "transcription",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": SAMPLE_RATE},
                    "transcription": transcription,
                    "turn_detection": {
                        "type": "server_vad",
                        "threshold": self.vad_threshold,
                        "prefix_padding_ms": self.prefix_padding_ms,
                        "silence_duration_ms": self.silence_duration_ms,
                    },
                    "noise_reduction": (
                        {"type": self.noise_reduction} if self.noise_reduction else None
                    ),
                }
            },
        }


class RealtimeTranscription:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        settings: TranscriptionSettings,
        open_timeout: float = 10.0,
    ) -> None:
        self.url = realtime_url(base_url)
        self._api_key = api_key
        self.settings = settings
        self.open_timeout = open_timeout
        self._ws: ClientConnection | None = None
        self.session: dict | None = None  # the effective session, as session.updated says

    def connect(self) -> dict:
        """Open the socket and configure the session; the session.updated's session."""
        try:
            # Entered as a context manager (websockets 17 warns about any other use); left
            # in close().
            self._ws = connect(
                self.url,
                additional_headers={"Authorization": f"Bearer {self._api_key}"},
                open_timeout=self.open_timeout,
                max_size=None,
                compression=None,
            ).__enter__()
        except InvalidStatus as refused:
            raise OpenAIError(
                f"{SERVICE} refused the connection ({refused.response.status_code}).",
                status=refused.response.status_code,
            ) from None
        except (OSError, TimeoutError, WebSocketException) as error:
            raise OpenAIError(f"{SERVICE} is unreachable: {type(error).__name__}.") from None
        self.wait_for("session.created", timeout=self.open_timeout)
        self.send({"type": "session.update", "session": self.settings.session()})
        self.session = self.wait_for("session.updated", timeout=self.open_timeout)["session"]
        return self.session

    def send(self, event: dict) -> None:
        try:
            self._connection().send(json.dumps(event))
        except ConnectionClosed as closed:
            raise self._closed(closed) from None

    def append(self, pcm: bytes) -> None:
        """24 kHz s16le mono PCM; the API does not acknowledge it."""
        if pcm:
            self.send(
                {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}
            )

    def commit(self) -> None:
        self.send({"type": "input_audio_buffer.commit"})

    def clear(self) -> None:
        self.send({"type": "input_audio_buffer.clear"})

    def events(self) -> list[dict]:
        """Every event that has arrived, without waiting. An `error` event raises OpenAIError."""
        found = []
        while (event := self.receive(timeout=0)) is not None:
            found.append(event)
        return found

    def receive(self, timeout: float) -> dict | None:
        try:
            raw = self._connection().recv(timeout=timeout)
        except TimeoutError:
            return None
        except ConnectionClosed as closed:
            raise self._closed(closed) from None
        event = json.loads(raw)
        if event.get("type") == "error":
            error = event.get("error") or {}
            raise OpenAIError(
                f"{SERVICE} said: {error.get('message')}",
                status=401 if error.get("code") == "invalid_api_key" else None,
                code=error.get("code"),
            )
        return event

    def wait_for(self, kind: str, *, timeout: float, seen: list | None = None) -> dict:
        """The next event of that type (the ones before it go to `seen`, if given)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            event = self.receive(timeout=left)
            if event is None:
                break
            if event.get("type") == kind:
                return event
            if seen is not None:
                seen.append(event)
        raise OpenAIError(f"{SERVICE} sent no {kind} within {timeout:g} s.")

    def close(self) -> None:
        if self._ws is not None:
            self._ws.__exit__(None, None, None)
            self._ws = None

    def _connection(self) -> ClientConnection:
        if self._ws is None:
            raise OpenAIError(f"{SERVICE}: the session is not open.")
        return self._ws

    def _closed(self, closed: ConnectionClosed) -> OpenAIError:
        code = closed.rcvd.code if closed.rcvd else None
        reason = closed.rcvd.reason if closed.rcvd else ""
        return OpenAIError(
            f"{SERVICE} closed the session ({code} {reason}).".replace(" )", ")"),
            code=reason or None,
        )
