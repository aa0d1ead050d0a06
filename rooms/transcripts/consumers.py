"""The audio socket: the doctor's page sends the call's audio, one stream per speaker, while the
visit's transcription is on; what the engine hears comes back as partials and stored segments
(docs/protocol.md, "The audio socket").

Recognition runs in the engine processes of rooms.transcripts.pool, never on this event loop.
Memory stays bounded: each stream may have at most TRANSCRIPTION_MAX_BACKLOG_SECONDS of audio
sent and not yet recognised; more is refused (`audio_backlog`) and the page holds it.
"""

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from clinic.errors import ApplicationError, NotOpenError
from rooms.consumers import ABUSE_LIMIT, closed_by, refusal_record
from rooms.protocol import (
    CloseCode,
    ProtocolError,
    RoomClosed,
    ServerFrame,
    json_frame,
)
from rooms.selectors import audio_group, room_access_get
from rooms.state import ADMITTED, get_room_state_store
from rooms.transcripts.engines.base import BYTES_PER_SAMPLE, SAMPLE_RATE, Final, Partial
from rooms.transcripts.live import transcript_origin_get, transcription_on_get
from rooms.transcripts.pool import Progress, StreamFailed, get_pool
from rooms.transcripts.services.segments import segment_frame, segment_store
from rooms.transcripts.vocabulary import transcription_options_get
from visits.models import Appointment, User
from visits.selectors import Capability, appointment_require
from visits.services import scope_address, user_sockets_group

logger = logging.getLogger(__name__)

MAX_STREAMS = 16
# One binary frame: the stream byte and at most a second of audio.
MAX_AUDIO_FRAME_BYTES = 1 + SAMPLE_RATE * BYTES_PER_SAMPLE
# How long a closing stream's last turn may take to be recognised before it is given up.
FINISH_TIMEOUT_SECONDS = 15.0
# Acknowledgements at most this often per stream (the engine reports progress per chunk).
ACK_INTERVAL_SECONDS = 0.25
# The reader's end-of-stream mark, put on a stream's event queue after its finish.
_END = object()

NOT_ON = "The visit is not being transcribed now."


def _ms(byte_count: int) -> int:
    return byte_count * 1000 // (SAMPLE_RATE * BYTES_PER_SAMPLE)


@dataclass
class SpeakerStream:
    number: int
    speaker: User
    speaker_role: str
    speaker_name: str
    offset_ms: int  # where this stream's audio starts on the visit transcript's clock
    engine_stream: object
    reader: asyncio.Task | None = None
    last_ack: float = 0.0
    refused: int = 0  # frames refused for the backlog window
    closing: bool = field(default=False)

    @property
    def speaker_json(self) -> dict:
        return {
            "user_id": self.speaker.pk,
            "role": self.speaker_role,
            "display_name": self.speaker_name,
        }


def _doctor_access(*, user, room_id):
    """The room's access, for the visit's doctor only (Capability.TRANSCRIBE)."""
    access = room_access_get(user=user, room_id=room_id)
    appointment = Appointment.objects.select_related("doctor", "patient").get(
        pk=access.appointment_id
    )
    appointment_require(user=user, appointment=appointment, capability=Capability.TRANSCRIBE)
    return access


_access = database_sync_to_async(_doctor_access)
_on = database_sync_to_async(transcription_on_get)
_origin = database_sync_to_async(transcript_origin_get)
_options = database_sync_to_async(transcription_options_get)
_store = database_sync_to_async(segment_store)
_user = database_sync_to_async(lambda user_id: User.objects.get(pk=user_id))


class AudioConsumer(AsyncWebsocketConsumer):
    access = None
    transcription = None

    async def connect(self) -> None:
        await self.accept()  # first, so that a refusal can carry its close code
        self.streams: dict[int, SpeakerStream] = {}
        self.errors = 0
        try:
            self.access = await _access(
                user=self.scope["user"], room_id=self.scope["url_route"]["kwargs"]["room_id"]
            )
        except ApplicationError as refused:
            await refusal_record(self.scope, refused)  # logged before the client hears
            await self._close(closed_by(refused))
            return
        self.transcription = await _on(appointment_id=self.access.appointment_id)
        if self.transcription is None:
            await self._close(closed_by(NotOpenError(NOT_ON)))
            return
        for group in (audio_group(self.access.room), user_sockets_group(self.access.user_id)):
            self.groups.append(group)  # Channels leaves them on disconnect
            await self.channel_layer.group_add(group, self.channel_name)
        self.options = await _options(
            appointment_id=self.access.appointment_id,
            user=self.scope["user"],
            address=scope_address(self.scope),
        )
        self.origin = await _origin(appointment_id=self.access.appointment_id)
        await self._send(
            {
                "type": "audio.ready",
                "sample_rate": SAMPLE_RATE,
                "max_backlog_ms": settings.TRANSCRIPTION_MAX_BACKLOG_SECONDS * 1000,
                "max_frame_bytes": MAX_AUDIO_FRAME_BYTES,
            }
        )

    async def disconnect(self, code) -> None:
        # What was said up to here was said with everyone's consent: keep its last turns.
        await self._finish_all()

    async def _finish_all(self) -> None:
        streams, self.streams = list(self.streams.values()), {}
        await asyncio.gather(*(self._finish(stream) for stream in streams))

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if self.transcription is None:
            return
        try:
            if bytes_data is not None:
                await self._audio(bytes_data)
            else:
                await self._command(text_data)
        except ProtocolError as error:
            self.errors += 1
            if self.errors > ABUSE_LIMIT:
                await self._close(RoomClosed(CloseCode.ABUSE, "Too many bad frames."))
                return
            await self._send(error.frame())
        except Exception:
            logger.exception("audio frame failed")
            await self._send(
                {"type": ServerFrame.ERROR, "code": "internal", "message": "That did not work."}
            )

    # --- audio -------------------------------------------------------------------------------

    async def _audio(self, data: bytes) -> None:
        if len(data) > MAX_AUDIO_FRAME_BYTES:
            raise ProtocolError(
                "too_large", f"Audio frames are limited to {MAX_AUDIO_FRAME_BYTES} bytes."
            )
        if len(data) < 3 or (len(data) - 1) % BYTES_PER_SAMPLE:
            raise ProtocolError(
                "invalid_field", "An audio frame is a stream byte and whole 16-bit samples."
            )
        stream = self.streams.get(data[0])
        if stream is None or stream.closing:
            raise ProtocolError("not_found", f"Stream {data[0]} is not open.")
        engine_stream = stream.engine_stream
        backlog_ms = engine_stream.fed_ms - engine_stream.recognised_ms + _ms(len(data) - 1)
        if backlog_ms > settings.TRANSCRIPTION_MAX_BACKLOG_SECONDS * 1000:
            stream.refused += 1
            raise ProtocolError(
                "audio_backlog",
                "The transcription is behind; hold the audio and send it later.",
                stream=stream.number,
            )
        engine_stream.feed(bytes(data[1:]))

    # --- commands ----------------------------------------------------------------------------

    async def _command(self, text: str) -> None:
        frame_type, frame = json_frame(text)
        if frame_type == "stream.open":
            await self._open(_stream_number(frame), frame.get("speaker_user_id"))
        elif frame_type == "stream.close":
            number = _stream_number(frame)
            stream = self.streams.pop(number, None)
            if stream is None:
                raise ProtocolError("not_found", f"Stream {number} is not open.")
            await self._finish(stream)
            await self._send({"type": "stream.closed", "stream": number})
        elif frame_type == "ping":
            await self._send({"type": "pong"})
        else:
            raise ProtocolError("unknown_type", f"Unknown frame type {frame_type[:40]!r}.")

    async def _open(self, number: int, speaker_user_id) -> None:
        if number in self.streams:
            raise ProtocolError("conflict", f"Stream {number} is open already.")
        if isinstance(speaker_user_id, bool) or not isinstance(speaker_user_id, int):
            raise ProtocolError("invalid_field", "'speaker_user_id' must be a user id.")
        if any(s.speaker.pk == speaker_user_id for s in self.streams.values()):
            raise ProtocolError("conflict", "That speaker has a stream already.")
        participants = await get_room_state_store().participants(self.access.room)
        speaker = next(
            (p for p in participants if p.user_id == speaker_user_id and p.status == ADMITTED),
            None,
        )
        if speaker is None:
            raise ProtocolError("not_found", "That speaker is not in the call.")
        engine_stream = await get_pool().open_stream(
            engine=self.transcription.engine, options=self.options
        )
        origin = self.origin or self.transcription.started_at or timezone.now()
        stream = SpeakerStream(
            number=number,
            speaker=await _user(speaker_user_id),
            speaker_role=speaker.role,
            speaker_name=speaker.display_name,
            offset_ms=max(0, int((timezone.now() - origin).total_seconds() * 1000)),
            engine_stream=engine_stream,
        )
        stream.reader = asyncio.create_task(self._read(stream))
        self.streams[number] = stream
        await self._send(
            {"type": "stream.opened", "stream": number, "speaker": stream.speaker_json}
        )

    async def _finish(self, stream: SpeakerStream) -> None:
        """Finish the stream's last turn (its Finals are read and stored by its reader)."""
        stream.closing = True
        try:
            await stream.engine_stream.finish(timeout=FINISH_TIMEOUT_SECONDS)
        except Exception as error:
            logger.warning("audio stream %s did not finish (%r)", stream.number, error)
            stream.engine_stream.abort()
        stream.engine_stream.events.put_nowait(_END)
        if stream.reader is not None:
            try:
                await asyncio.wait_for(stream.reader, FINISH_TIMEOUT_SECONDS)
            except (TimeoutError, asyncio.CancelledError):
                stream.reader.cancel()

    # --- what the engine hears ---------------------------------------------------------------

    async def _read(self, stream: SpeakerStream) -> None:
        events = stream.engine_stream.events
        while True:
            event = await events.get()
            if event is _END:
                return
            try:
                await self._heard(stream, event)
            except Exception:
                # One lost event must not end the stream: log it and read on.
                logger.exception("audio stream %s: event not handled", stream.number)

    async def _heard(self, stream: SpeakerStream, event) -> None:
        if isinstance(event, Final):
            text = event.text.strip()
            if not text:
                return
            segment = await _store(
                transcription=self.transcription,
                speaker=stream.speaker,
                speaker_role=stream.speaker_role,
                speaker_name=stream.speaker_name,
                start_ms=stream.offset_ms + event.start_ms,
                end_ms=stream.offset_ms + event.end_ms,
                text=text,
                engine=self.transcription.engine,
            )
            await self._send({"type": "transcript.segment", "segment": segment_frame(segment)})
        elif isinstance(event, Partial):
            await self._send(
                {
                    "type": "transcript.partial",
                    "stream": stream.number,
                    "speaker": stream.speaker_json,
                    "text": event.text,
                }
            )
        elif isinstance(event, Progress):
            now = time.monotonic()
            if now - stream.last_ack >= ACK_INTERVAL_SECONDS or stream.closing:
                stream.last_ack = now
                await self._ack(stream)
        elif isinstance(event, StreamFailed):
            logger.warning("audio stream %s failed: %s", stream.number, event.reason)
            if self.streams.get(stream.number) is stream:
                del self.streams[stream.number]
            await self._send(
                {
                    "type": "transcription.failed",
                    "stream": stream.number,
                    "message": "Transcription of this speaker failed; open the stream again.",
                }
            )

    async def _ack(self, stream: SpeakerStream) -> None:
        engine_stream = stream.engine_stream
        await self._send(
            {
                "type": "audio.ack",
                "stream": stream.number,
                "received_ms": engine_stream.fed_ms,
                "recognised_ms": engine_stream.recognised_ms,
            }
        )

    # --- events from the channel layer -------------------------------------------------------

    async def audio_check(self, event: dict) -> None:
        """The room changed: go on only while the transcription is still on."""
        if self.transcription is None:
            return
        current = await _on(appointment_id=self.access.appointment_id)
        if current is None or current.pk != self.transcription.pk:
            await self._finish_all()
            await self._close(closed_by(NotOpenError(NOT_ON)))

    async def user_signed_out(self, event: dict) -> None:
        await self._finish_all()
        await self._close(
            RoomClosed(CloseCode.NOT_AUTHENTICATED, "You were signed out; sign in again.")
        )

    # --- sending -----------------------------------------------------------------------------

    async def _send(self, frame: dict) -> None:
        try:
            await self.send(text_data=json.dumps(frame))
        except Exception as error:  # the socket went away meanwhile
            logger.debug("audio frame not sent (%r)", error)

    async def _close(self, closed: RoomClosed) -> None:
        self.transcription = None
        await self._send({"type": closed.frame_type, "code": closed.code, "message": closed.reason})
        await self.close(code=int(closed.code))


def _stream_number(frame: dict) -> int:
    number = frame.get("stream")
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < MAX_STREAMS:
        raise ProtocolError(
            "invalid_field", f"'stream' must be a number from 0 to {MAX_STREAMS - 1}."
        )
    return number
