"""The room WebSocket's protocol (docs/protocol.md): its close codes and frame types, defined
here once, and the client frames' parsing and validation.

Anything wrong with a frame becomes a ProtocolError with a stable `code`, which the consumer
answers with an `error` frame while the socket stays open.
"""

import json
import re
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any
from uuid import UUID

from rooms.models import CHAT_MESSAGE_MAX_LENGTH


class CloseCode(IntEnum):
    """Why the server closed a room socket (the code a `room.closed` frame announces)."""

    REPLACED = 4000  # the same person connected again
    NOT_AUTHENTICATED = 4401  # not signed in, or signed out while connected
    NOT_ALLOWED = 4403  # not this visit's doctor or patient; also denied or removed
    UNKNOWN_ROOM = 4404
    TIMED_OUT = 4408  # no frame or ping for ROOM_SILENCE_TIMEOUT_SECONDS
    ROOM_CLOSED = 4409  # outside the join window, the visit is over, or it ended
    ABUSE = 4429  # too many bad or rate-limited frames
    UNAVAILABLE = 4503  # the room state or channel layer (Redis) stayed unreachable


# After these the page does not reconnect; after any other close it does, with backoff.
FINAL_CLOSE_CODES = frozenset(
    {
        CloseCode.REPLACED,
        CloseCode.NOT_AUTHENTICATED,
        CloseCode.NOT_ALLOWED,
        CloseCode.UNKNOWN_ROOM,
        CloseCode.ROOM_CLOSED,
        CloseCode.ABUSE,
    }
)


class ServerFrame(StrEnum):
    """The `type` of each frame the server sends."""

    STATE = "room.state"
    CLOSED = "room.closed"  # followed by the close, with the frame's code
    DENIED = "room.denied"
    REMOVED = "room.removed"
    ENDED = "room.ended"
    SIGNAL = "signal"
    CHAT = "chat"
    PONG = "pong"
    ERROR = "error"
    DRAFT_NOTE = "draft_note.ready"  # to the doctor: the AI scribe's draft is ready (or failed)
    MLS = "mls"  # an MLS message relayed from another participant (end-to-end encryption)


class ClientFrame(StrEnum):
    """The `type` of each frame a client may send (PARSERS below reads each)."""

    PING = "ping"
    ADMIT = "admit"
    DENY = "deny"
    REMOVE = "remove"
    END = "end"
    SIGNAL = "signal"
    MEDIA = "media"
    TRACKS = "tracks"
    CHAT = "chat"
    RECORDING_REQUEST = "recording.request"
    RECORDING_CONSENT = "recording.consent"
    RECORDING_STOP = "recording.stop"
    TRANSCRIPTION_REQUEST = "transcription.request"
    TRANSCRIPTION_CONSENT = "transcription.consent"
    TRANSCRIPTION_STOP = "transcription.stop"
    E2EE_ON = "e2ee.on"
    MLS = "mls"


class MlsKind(StrEnum):
    """An `mls` frame's `kind`: what the opaque message is, which says who it goes to."""

    KEY_PACKAGE = "key_package"  # a member's, to the doctor (the group's committer)
    WELCOME = "welcome"  # the doctor's, to the one participant it adds (`to`)
    COMMIT = "commit"  # the doctor's, to everyone else admitted
    REQUEST = "request"  # the doctor's, to everyone else admitted: "send me a key package"


class ConsentDecision(StrEnum):
    """A `recording.consent` or `transcription.consent` frame's `decision`."""

    ALLOW = "allow"
    DECLINE = "decline"
    WITHDRAW = "withdraw"


MAX_FRAME_BYTES = 64 * 1024
# An MLS message's base64 text (a two-person group's welcome is about 1 KB; room to grow).
MAX_MLS_MESSAGE_CHARS = 48 * 1024
MLS_MESSAGE_PATTERN = re.compile(r"[A-Za-z0-9+/]+={0,2}")
MAX_ID_LENGTH = 64
MAX_TRACKS = 16  # tracks one `tracks` frame announces (a page publishes a few)
TRACK_KINDS = ("audio", "video")


def page_constants() -> dict[str, Any]:
    """The protocol as the room page needs it (part of its config), so that the page repeats
    none of it: close codes and which are final, and the frame types both ways."""
    return {
        "closeCodes": {code.name: int(code) for code in CloseCode},
        "finalCloseCodes": sorted(int(code) for code in FINAL_CLOSE_CODES),
        "serverFrames": {frame.name: frame.value for frame in ServerFrame},
        "clientFrames": {frame.name: frame.value for frame in ClientFrame},
        "maxTracks": MAX_TRACKS,
        "consentDecisions": {decision.name: decision.value for decision in ConsentDecision},
        "mlsKinds": {kind.name: kind.value for kind in MlsKind},
    }


class RoomClosed(Exception):
    """The socket must close with `code`, after a last frame of `frame_type` telling the
    client why: the socket's own life (replaced, timed out, abuse, an outage, denied or
    removed). Access refusals are application errors (clinic.errors), which the consumer maps
    to their codes in one table."""

    def __init__(
        self, code: CloseCode, reason: str, frame_type: ServerFrame = ServerFrame.CLOSED
    ) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.frame_type = frame_type


class ProtocolError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        *,
        client_id: str | None = None,
        stream: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # The client's id of the chat message refused, so its page can offer to send it again.
        self.client_id = client_id
        # The audio socket's stream the refusal is about (its audio is to be held and resent).
        self.stream = stream

    def frame(self) -> dict:
        frame: dict = {"type": ServerFrame.ERROR.value, "code": self.code, "message": self.message}
        if self.client_id is not None:
            frame["client_id"] = self.client_id
        if self.stream is not None:
            frame["stream"] = self.stream
        return frame


@dataclass(frozen=True)
class Command:
    type: str
    fields: dict[str, Any]


def _text(frame: dict, name: str, *, max_length: int, strip: bool = False) -> str:
    if name not in frame:
        raise ProtocolError("missing_field", f"'{name}' is required.")
    value = frame[name]
    if not isinstance(value, str):
        raise ProtocolError("invalid_field", f"'{name}' must be a string.")
    value = value.strip() if strip else value
    if not _storable(value):
        raise ProtocolError("invalid_field", f"'{name}' has characters that cannot be stored.")
    if not value:
        raise ProtocolError("invalid_field", f"'{name}' must not be empty.")
    if len(value) > max_length:
        raise ProtocolError("invalid_field", f"'{name}' is longer than {max_length} characters.")
    return value


def _storable(text: str) -> bool:
    """Valid UTF-8 with no NUL: what Redis, msgpack and PostgreSQL all accept."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _no_fields(frame: dict) -> dict:
    return {}


def _target(frame: dict) -> dict:
    return {"participant_id": _text(frame, "participant_id", max_length=MAX_ID_LENGTH)}


def _signal(frame: dict) -> dict:
    data = frame.get("data")
    if "data" not in frame:
        raise ProtocolError("missing_field", "'data' is required.")
    if not isinstance(data, dict):
        raise ProtocolError("invalid_field", "'data' must be an object (an SDP or ICE payload).")
    # Relayed as JSON text, so any JSON the client sent passes the channel layer unchanged.
    data_json = json.dumps(data, separators=(",", ":"))
    return {"to": _text(frame, "to", max_length=MAX_ID_LENGTH), "data_json": data_json}


def _media(frame: dict) -> dict:
    flags = {name: frame[name] for name in ("audio", "video", "screen") if name in frame}
    if not flags:
        raise ProtocolError("missing_field", "Give at least one of 'audio', 'video', 'screen'.")
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise ProtocolError("invalid_field", f"'{name}' must be true or false.")
    return flags


def _tracks(frame: dict) -> dict:
    tracks = frame.get("tracks")
    if not isinstance(tracks, list):
        raise ProtocolError("invalid_field", "'tracks' must be a list of {name, kind}.")
    if len(tracks) > MAX_TRACKS:
        raise ProtocolError("invalid_field", f"At most {MAX_TRACKS} tracks.")
    cleaned = []
    for track in tracks:
        if not isinstance(track, dict):
            raise ProtocolError("invalid_field", "Each track must be an object {name, kind}.")
        name = _text(track, "name", max_length=MAX_ID_LENGTH)
        kind = track.get("kind")
        if kind not in TRACK_KINDS:
            raise ProtocolError("invalid_field", "A track's 'kind' must be 'audio' or 'video'.")
        cleaned.append({"name": name, "kind": kind})
    return {"session_id": _text(frame, "session_id", max_length=128), "tracks": cleaned}


def _client_id(frame: dict) -> str | None:
    """The optional id a client gives its chat message, echoed in the answer to it."""
    if "client_id" not in frame:
        return None
    return _text(frame, "client_id", max_length=MAX_ID_LENGTH)


def _chat(frame: dict) -> dict:
    client_id = _client_id(frame)
    try:
        text = _text(frame, "text", max_length=CHAT_MESSAGE_MAX_LENGTH, strip=True)
    except ProtocolError as error:
        error.client_id = client_id
        raise
    return {"text": text, "client_id": client_id}


def _recording_id(frame: dict) -> dict:
    text = _text(frame, "recording_id", max_length=MAX_ID_LENGTH)
    try:
        recording_id = UUID(text)
    except ValueError:
        raise ProtocolError("invalid_field", "'recording_id' must be a recording's UUID.") from None
    return {"recording_id": str(recording_id)}


def _decision(frame: dict) -> dict:
    if "decision" not in frame:
        raise ProtocolError("missing_field", "'decision' is required.")
    decision = frame["decision"]
    if not isinstance(decision, str) or decision not in set(ConsentDecision):
        choices = ", ".join(f"'{choice}'" for choice in ConsentDecision)
        raise ProtocolError("invalid_field", f"'decision' must be one of {choices}.")
    return {"decision": ConsentDecision(decision)}


def _recording_consent(frame: dict) -> dict:
    return {**_recording_id(frame), **_decision(frame)}


def _transcription_id(frame: dict) -> dict:
    if "transcription_id" not in frame:
        raise ProtocolError("missing_field", "'transcription_id' is required.")
    value = frame["transcription_id"]
    # Its id as room.state gives it (a string), or the number itself.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise ProtocolError("invalid_field", "'transcription_id' must be a transcription's id.")
    return {"transcription_id": value}


def _transcription_consent(frame: dict) -> dict:
    return {**_transcription_id(frame), **_decision(frame)}


def _mls(frame: dict) -> dict:
    """Checked for shape only: the server is the delivery service, and never reads a message."""
    kind = frame.get("kind")
    if not isinstance(kind, str) or kind not in set(MlsKind):
        choices = ", ".join(f"'{choice}'" for choice in MlsKind)
        raise ProtocolError("invalid_field", f"'kind' must be one of {choices}.")
    fields: dict[str, Any] = {"kind": MlsKind(kind), "data": "", "to": None}
    if kind != MlsKind.REQUEST:
        data = _text(frame, "data", max_length=MAX_MLS_MESSAGE_CHARS)
        if len(data) % 4 or not MLS_MESSAGE_PATTERN.fullmatch(data):
            raise ProtocolError("invalid_field", "'data' must be base64 (an encoded MLS message).")
        fields["data"] = data
    if kind == MlsKind.WELCOME:
        fields["to"] = _text(frame, "to", max_length=MAX_ID_LENGTH)
    return fields


PARSERS = {
    ClientFrame.PING: _no_fields,
    ClientFrame.ADMIT: _target,
    ClientFrame.DENY: _target,
    ClientFrame.REMOVE: _target,
    ClientFrame.END: _no_fields,
    ClientFrame.SIGNAL: _signal,
    ClientFrame.MEDIA: _media,
    ClientFrame.TRACKS: _tracks,
    ClientFrame.CHAT: _chat,
    ClientFrame.RECORDING_REQUEST: _no_fields,
    ClientFrame.RECORDING_CONSENT: _recording_consent,
    ClientFrame.RECORDING_STOP: _recording_id,
    ClientFrame.TRANSCRIPTION_REQUEST: _no_fields,
    ClientFrame.TRANSCRIPTION_CONSENT: _transcription_consent,
    ClientFrame.TRANSCRIPTION_STOP: _transcription_id,
    ClientFrame.E2EE_ON: _no_fields,
    ClientFrame.MLS: _mls,
}


def json_frame(text: str) -> tuple[str, dict]:
    """A client text frame's (type, object), or ProtocolError: within the size limit, JSON, an
    object with a non-empty string `type`. Every socket's frames start here."""
    if len(text.encode()) > MAX_FRAME_BYTES:
        raise ProtocolError("too_large", f"Frames are limited to {MAX_FRAME_BYTES} bytes.")
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("bad_json", "The frame is not valid JSON.") from None
    if not isinstance(frame, dict):
        raise ProtocolError("bad_frame", "A frame must be a JSON object with a 'type'.")
    frame_type = frame.get("type")
    if not isinstance(frame_type, str) or not frame_type:
        raise ProtocolError("missing_field", "'type' is required.")
    return frame_type, frame


def parse_frame(text: str | None) -> Command:
    """One client text frame -> a Command, or ProtocolError saying what is wrong."""
    if text is None:
        raise ProtocolError("bad_frame", "Send JSON text frames, not binary.")
    frame_type, frame = json_frame(text)
    parser = PARSERS.get(frame_type)
    if parser is None:
        raise ProtocolError("unknown_type", f"Unknown frame type {frame_type[:40]!r}.")
    return Command(ClientFrame(frame_type), parser(frame))
