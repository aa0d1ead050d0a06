"""The visit room's WebSocket: moves frames between one browser and rooms.services."""

import asyncio
import json
import logging
import math
import time

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from clinic.errors import (
    ApplicationError,
    ConflictError,
    NotFoundError,
    NotOpenError,
    NotSignedInError,
    NotYoursError,
    PermissionDeniedError,
    ServiceUnavailableError,
)
from rooms import services
from rooms.protocol import (
    ClientFrame,
    CloseCode,
    ProtocolError,
    RoomClosed,
    ServerFrame,
    parse_frame,
)
from rooms.rate_limit import TokenBucket
from rooms.recordings.services.consent import (
    RECORDING_RULES,
    RecordingLiveError,
    RecordingOverError,
)
from rooms.selectors import room_access_get
from rooms.state import ADMITTED
from rooms.transcripts.services.consent import (
    TRANSCRIPTION_RULES,
    TranscriptionLiveError,
    TranscriptionOverError,
)
from visits.models import AccessLogEntry, Role
from visits.services import record_security_event, scope_address, user_sockets_group

logger = logging.getLogger(__name__)

# How often each connection looks for silent members (its own client included).
SWEEP_SECONDS = 5.0
# Last-seen times are written at most this often per connection (a quarter of the silence
# timeout at most): every write is a Redis command, and a busy socket sends 40 frames a second.
TOUCH_SECONDS = 5.0
# `mls` frames a connection may send: a rate a second, and a burst.
MLS_FRAMES_PER_SECOND = 2.0
MLS_FRAMES_BURST = 20
# Errors (bad frames, floods) a connection may cause before it is closed as abusive.
ABUSE_LIMIT = 200
# The channel layer (Redis) may fail this long before the socket closes with UNAVAILABLE (the
# page reconnects); shorter outages are waited out, retrying with backoff up to the cap.
LAYER_OUTAGE_LIMIT_SECONDS = 30.0
LAYER_RETRY_CAP_SECONDS = 2.0
# A failing sweep is tried again at growing intervals up to this (it is also what notices, once
# Redis answers again, the events its pub/sub lost meanwhile: not too long).
SWEEP_BACKOFF_CAP_SECONDS = 10.0

# The one table from the access rule's refusals (clinic.errors) to close codes, most specific
# first. Over HTTP NotYoursError reads as 404; here the room's address is already known.
CLOSE_CODE_OF_ERROR: tuple[tuple[type[ApplicationError], CloseCode], ...] = (
    (NotSignedInError, CloseCode.NOT_AUTHENTICATED),
    (NotYoursError, CloseCode.NOT_ALLOWED),
    (PermissionDeniedError, CloseCode.NOT_ALLOWED),
    (NotFoundError, CloseCode.UNKNOWN_ROOM),
    (NotOpenError, CloseCode.ROOM_CLOSED),
)


# The table from the rules' refusals of a frame (clinic.errors, raised by the services a frame
# calls, e.g. rooms.recordings.services.consent) to the `error` frame's code, most specific first.
ERROR_CODE_OF_ERROR: tuple[tuple[type[ApplicationError], str], ...] = (
    (RecordingLiveError, "recording_live"),
    (RecordingOverError, "recording_over"),
    (TranscriptionLiveError, "transcription_live"),
    (TranscriptionOverError, "transcription_over"),
    (NotFoundError, "not_found"),
    (PermissionDeniedError, "forbidden"),
    (ConflictError, "conflict"),
    (ServiceUnavailableError, "unavailable"),
    (ApplicationError, "invalid"),
)


# The consent frames: which capture's rules, what to do, and the frame's id field.
CAPTURE_FRAMES = {
    ClientFrame.RECORDING_REQUEST: (RECORDING_RULES, "request", None),
    ClientFrame.RECORDING_CONSENT: (RECORDING_RULES, "consent", "recording_id"),
    ClientFrame.RECORDING_STOP: (RECORDING_RULES, "stop", "recording_id"),
    ClientFrame.TRANSCRIPTION_REQUEST: (TRANSCRIPTION_RULES, "request", None),
    ClientFrame.TRANSCRIPTION_CONSENT: (TRANSCRIPTION_RULES, "consent", "transcription_id"),
    ClientFrame.TRANSCRIPTION_STOP: (TRANSCRIPTION_RULES, "stop", "transcription_id"),
}


def refused_frame(error: ApplicationError) -> ProtocolError:
    """The `error` frame a frame's refusal is answered with (ERROR_CODE_OF_ERROR)."""
    code = next(code for error_type, code in ERROR_CODE_OF_ERROR if isinstance(error, error_type))
    return ProtocolError(code, error.message)


def closed_by(error: ApplicationError) -> RoomClosed:
    """The close an access refusal ends the socket with (CLOSE_CODE_OF_ERROR)."""
    for error_type, code in CLOSE_CODE_OF_ERROR:
        if isinstance(error, error_type):
            return RoomClosed(code, error.message)
    raise error


_security_event = database_sync_to_async(record_security_event)


async def frame_refusal_record(scope: dict, frame_type: str) -> None:
    """A frame the room's rules refused its sender (a `forbidden` error frame: a patient's
    `admit`, a signal before admission): a permission refusal in the access log too. At most
    ABUSE_LIMIT of them per socket, which then closes."""
    await _security_event(
        event=AccessLogEntry.Event.REFUSED,
        channel=AccessLogEntry.Channel.VISIT_ROOM,
        user=scope["user"],
        address=scope_address(scope),
        record=f"FRAME {frame_type} {scope['path']}",
    )


async def refusal_record(scope: dict, refused: ApplicationError) -> None:
    """A socket was refused a room it may not enter (not a missing or closed one): a permission
    refusal in the access log, as the API's are (clinic.exception_handler)."""
    if isinstance(refused, (NotYoursError, PermissionDeniedError)):
        await _security_event(
            event=AccessLogEntry.Event.REFUSED,
            channel=AccessLogEntry.Channel.VISIT_ROOM,
            user=scope["user"],
            address=scope_address(scope),
            record=f"WEBSOCKET {scope['path']}",
        )


class RoomSweeps:
    """When this process last swept each room it holds connections of: a room's connections
    here share the work, so the room is swept once per interval, not once per connection
    (each sweep is a Redis read; a thousand sockets would make hundreds a second)."""

    def __init__(self) -> None:
        self._rooms: dict[str, list[float]] = {}  # room -> [connections here, last sweep]

    def enter(self, room: str) -> None:
        self._rooms.setdefault(room, [0, -math.inf])[0] += 1

    def leave(self, room: str) -> None:
        entry = self._rooms.get(room)
        if entry is not None:
            entry[0] -= 1
            if entry[0] <= 0:
                del self._rooms[room]

    def due(self, room: str, interval: float) -> bool:
        """Whether the room is to be swept now; if so, counts it as swept."""
        entry = self._rooms.get(room)
        now = time.monotonic()
        # A little early counts: the connections' sweepers tick at about the same interval.
        if entry is None or now - entry[1] < interval * 0.9:
            return entry is None
        entry[1] = now
        return True


_sweeps = RoomSweeps()
_room_access = database_sync_to_async(room_access_get)
PONG = json.dumps({"type": ServerFrame.PONG})


class RoomConsumer(AsyncWebsocketConsumer):
    access: services.RoomAccess | None = None
    participant_id: str | None = None
    # The room as this connection last read it (services.view_for, on every room.changed):
    # signal and MLS frames are relayed with it, reading no shared state per frame.
    view: services.RoomView | None = None
    # The latest room version (services.room_version) this connection has caught up with.
    seen_version = 0
    # Set when a room.state may have been missed (the store or the layer failed): the sweeper
    # sends a fresh one, or closes the socket if we are no longer in the room.
    state_stale = False

    # Channels' AsyncConsumer.__call__ sets this to the channel layer's receive for our channel
    # and waits on it with the socket's own receive: a Redis error raised there would end the
    # application and close the socket with 1011. Wrapped, the outage is waited out.
    @property
    def channel_receive(self):
        return self._channel_receive

    @channel_receive.setter
    def channel_receive(self, receive) -> None:
        async def receive_through_outages() -> dict:
            return await self._receive_through_outages(receive)

        self._channel_receive = receive_through_outages

    async def _receive_through_outages(self, receive) -> dict:
        failing_since = None
        delay = 0.1
        while True:
            try:
                message = await receive()
            except Exception as error:  # not CancelledError: a BaseException, it passes
                now = time.monotonic()
                if failing_since is None:
                    failing_since = now
                    logger.warning("channel layer receive failed (%r); retrying", error)
                if now - failing_since >= LAYER_OUTAGE_LIMIT_SECONDS:
                    return {"type": "room.unavailable"}
                await asyncio.sleep(delay)
                delay = min(delay * 2, LAYER_RETRY_CAP_SECONDS)
                continue
            if failing_since is not None:
                logger.warning(
                    "channel layer receive works again after %.1f s",
                    time.monotonic() - failing_since,
                )
                self.state_stale = True  # room.changed events may have been lost meanwhile
            return message

    async def dispatch(self, message: dict) -> None:
        # Channels' own dispatch first closes stale database connections, a hop through the one
        # thread-sensitive sync thread for every frame and event; this consumer reaches the
        # database only through database_sync_to_async, which closes them itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        await self.accept()  # first, so that a refusal can carry its close code
        try:
            self.access = await _room_access(
                user=self.scope["user"], room_id=self.scope["url_route"]["kwargs"]["room_id"]
            )
        except ApplicationError as refused:
            await refusal_record(self.scope, refused)  # logged before the client hears
            await self._close(closed_by(refused))
            return
        # Told to close when the user's credentials change (visits.services.credentials);
        # Channels leaves self.groups on disconnect.
        self.groups.append(user_sockets_group(self.access.user_id))
        await self.channel_layer.group_add(self.groups[-1], self.channel_name)
        self.bucket = TokenBucket(rate=50, burst=100)
        # MLS messages come a few per join or leave; more is a page in a loop, or abuse.
        self.mls_bucket = TokenBucket(rate=MLS_FRAMES_PER_SECOND, burst=MLS_FRAMES_BURST)
        self.errors = 0
        self.last_frame = self.last_touch = time.monotonic()
        self.status = None
        self.acked_chat_ids: set[int] = set()
        try:
            participant = await services.join(self.access, self.channel_name)
        except Exception as error:
            logger.warning("room join failed (%r)", error)
            await self._close(
                RoomClosed(CloseCode.UNAVAILABLE, "The room is unavailable; reconnecting.")
            )
            return
        self.participant_id = participant.participant_id
        # services.join put this channel in the room's group; Channels discards it on
        # disconnect however the socket ends (a socket the room closed skips services.leave).
        self.groups.append(self.access.group)
        _sweeps.enter(self.access.room)
        self.sweeper = asyncio.create_task(self._sweep())

    async def disconnect(self, code) -> None:
        if getattr(self, "sweeper", None):
            self.sweeper.cancel()
            _sweeps.leave(self.access.room)
        if self.access and self.participant_id:
            await self._leave()

    async def _leave(self) -> None:
        """Leave the room; if the store cannot be reached, the others' sweepers drop us."""
        participant_id, self.participant_id = self.participant_id, None
        try:
            await services.leave(self.access, participant_id, self.channel_name)
        except Exception as error:
            logger.warning("room leave failed (%r)", error)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if not self.participant_id:
            return
        self.last_frame = time.monotonic()
        command = None
        try:
            if not self.bucket.take():
                raise ProtocolError("rate_limited", "Too many frames; slow down.")
            command = parse_frame(text_data)
            await self._heard_from()
            try:
                await self._dispatch(command.type, command.fields)
            except ApplicationError as refused:
                raise refused_frame(refused) from refused
        except ProtocolError as error:
            if error.client_id is None and command is not None:
                error.client_id = command.fields.get("client_id")
            self.errors += 1
            if error.code == "forbidden" and command is not None:
                await frame_refusal_record(self.scope, command.type)
            if self.errors > ABUSE_LIMIT:
                await self._close(RoomClosed(CloseCode.ABUSE, "Too many bad frames."))
                return
            if error.code != "rate_limited" or self.bucket.should_report():
                await self.send(text_data=json.dumps(error.frame()))
        except RoomClosed as closed:
            await self._close(closed)
        except Exception:
            # A bug must not take the visit down: report it and keep the socket open.
            logger.exception("room frame failed")
            frame = {"type": ServerFrame.ERROR, "code": "internal", "message": "That did not work."}
            if command is not None and command.fields.get("client_id"):
                frame["client_id"] = command.fields["client_id"]
            await self.send(text_data=json.dumps(frame))

    async def _dispatch(self, frame_type: str, fields: dict) -> None:
        access, me = self.access, self.participant_id
        if frame_type == ClientFrame.PING:
            await self.send(text_data=PONG)
        elif frame_type == ClientFrame.ADMIT:
            await services.admit(access, me, fields["participant_id"])
        elif frame_type == ClientFrame.DENY:
            await services.deny(access, me, fields["participant_id"])
        elif frame_type == ClientFrame.REMOVE:
            await services.remove(access, me, fields["participant_id"])
        elif frame_type == ClientFrame.END:
            await services.end(access, me)
        elif frame_type == ClientFrame.SIGNAL:
            await services.relay_signal(self._members(), me, fields["to"], fields["data_json"])
        elif frame_type == ClientFrame.MEDIA:
            await services.update_media(access, me, fields)
        elif frame_type == ClientFrame.TRACKS:
            await services.update_tracks(access, me, fields["session_id"], fields["tracks"])
        elif frame_type == ClientFrame.CHAT:
            await self._chat(fields["text"], fields.get("client_id"))
        elif frame_type in CAPTURE_FRAMES:
            await self._capture(frame_type, fields)
        elif frame_type == ClientFrame.E2EE_ON:
            await services.turn_on_e2ee(access, me)
        elif frame_type == ClientFrame.MLS:
            if not self.mls_bucket.take():
                raise ProtocolError("rate_limited", "Too many MLS messages; slow down.")
            if self.view is None:
                raise ProtocolError("forbidden", "Wait until the doctor lets you in.")
            await services.relay_mls(self.view, me, fields["kind"], fields["data"], fields["to"])

    def _members(self) -> services.RoomMembers:
        return self.view.members if self.view else {}

    async def _capture(self, frame_type: str, fields: dict) -> None:
        """The consent frames of a recording or a transcription (one rule: rooms.consent)."""
        rules, action, id_field = CAPTURE_FRAMES[frame_type]
        access, me = self.access, self.participant_id
        if action == "request":
            await services.request_capture(access, me, rules)
        elif action == "consent":
            await services.decide_capture(access, me, rules, fields[id_field], fields["decision"])
        else:
            await services.stop_capture(access, me, rules, fields[id_field])

    async def _chat(self, text: str, client_id: str | None) -> None:
        """Post a message; the sender's copy comes straight back from here, with its client_id,
        as the acknowledgement (the broadcast copy is skipped in room_chat)."""
        frame = await services.post_chat(self.access, self.participant_id, text)
        self.acked_chat_ids.add(frame["id"])
        if client_id is not None:
            frame = {**frame, "client_id": client_id}
        await self.send(text_data=json.dumps(frame))

    async def _heard_from(self) -> None:
        now = time.monotonic()
        if now - self.last_touch >= min(TOUCH_SECONDS, settings.ROOM_SILENCE_TIMEOUT_SECONDS / 4):
            try:
                await services.heard_from(self.access, self.participant_id)
            except Exception as error:
                # Not worth failing the frame for: the next frame tries again.
                logger.warning("room touch failed (%r)", error)
                return
            self.last_touch = now

    async def _sweep(self) -> None:
        """Every few seconds: close this socket if its client went silent, drop silent members,
        and resend a room.state that may have been missed. Errors (Redis away) are logged and
        the sweep tried again later, at growing intervals, for as long as the socket is open."""
        timeout = settings.ROOM_SILENCE_TIMEOUT_SECONDS
        interval = min(SWEEP_SECONDS, timeout / 3)
        failures = 0
        while True:
            backoff = min(interval * 2**failures, max(interval, SWEEP_BACKOFF_CAP_SECONDS))
            await asyncio.sleep(backoff)
            if not self.participant_id:
                return  # closing
            if time.monotonic() - self.last_frame > timeout:
                await self._close(RoomClosed(CloseCode.TIMED_OUT, "No frame or ping for too long."))
                return
            try:
                await self._sweep_once(interval)
            except RoomClosed as closed:
                await self._close(closed)
                return
            except Exception as error:
                failures += 1
                first = failures == 1  # the traceback once per spell of failures
                logger.warning("room sweep failed (%r); trying again", error, exc_info=first)
                continue
            if failures:
                logger.warning("room sweep works again after %d failures", failures)
                failures = 0
                self.state_stale = True  # events may have been lost while Redis was away

    async def _sweep_once(self, interval: float) -> None:
        if _sweeps.due(self.access.room, interval):
            await services.drop_silent(self.access)
        if await services.room_version(self.access) > self.seen_version:
            self.state_stale = True  # a room.changed or chat event never reached us
        if self.state_stale:
            self.state_stale = False
            try:
                # Raises RoomClosed (4408, the page reconnects) if we are no longer in the room:
                # swept as silent during the outage, or a restarted Redis lost the state. With
                # the chat history: a message's broadcast may be what was lost (the page shows
                # each message once).
                await self._send_state(with_chat=True)
            except Exception:
                self.state_stale = True
                raise

    async def _close(self, closed: RoomClosed) -> None:
        frame = {"type": closed.frame_type, "code": closed.code, "message": closed.reason}
        await self.send(text_data=json.dumps(frame))
        if self.access and self.participant_id:
            await self._leave()
        await self.close(code=int(closed.code))  # Daphne wants a plain int

    # --- Events from the channel layer --------------------------------------------------------

    async def room_changed(self, event: dict) -> None:
        if not self.participant_id:
            return
        try:
            await self._send_state()
        except RoomClosed:
            return  # removed meanwhile: the event that removed us closes the socket
        except Exception as error:
            logger.warning("room state not sent (%r); the sweeper sends it", error)
            self.state_stale = True

    async def _send_state(self, with_chat: bool = False) -> None:
        self.view = await services.view_for(self.access, self.participant_id)
        self.seen_version = max(self.seen_version, self.view.version)
        state = {**self.view.state}
        if state["you"]["status"] == ADMITTED and (self.status != ADMITTED or with_chat):
            state["chat"] = await services.chat_history(self.access)
        self.status = state["you"]["status"]
        await self.send(text_data=json.dumps(state))

    async def room_signal(self, event: dict) -> None:
        # The sender checked that we were admitted as it last saw the room; so do we.
        if self.participant_id and self.status == ADMITTED:
            sender = json.dumps(event["from"])
            await self.send(
                text_data=f'{{"type":"{ServerFrame.SIGNAL}","from":{sender},'
                f'"data":{event["data_json"]}}}'
            )

    async def room_mls(self, event: dict) -> None:
        """An MLS message for us (services.relay_mls), passed on as it came."""
        if self.participant_id and self.status == ADMITTED:
            frame = {"type": ServerFrame.MLS, **{k: event[k] for k in ("from", "kind", "data")}}
            await self.send(text_data=json.dumps(frame))

    async def room_chat(self, event: dict) -> None:
        frame = event["frame"]
        if event.get("version") == self.seen_version + 1:
            self.seen_version += 1  # the next change, in order: nothing missed before it
        if self.participant_id and self.status == ADMITTED:
            if frame["id"] in self.acked_chat_ids:
                return  # our own message: the acknowledgement carried it already
            await self.send(text_data=json.dumps(frame))

    async def room_draft_note(self, event: dict) -> None:
        """The AI scribe's draft (rooms.transcripts' task): for the visit's doctor only."""
        if self.participant_id and self.access.role == Role.DOCTOR:
            frame = {"type": ServerFrame.DRAFT_NOTE, "draft_note": event["draft_note"]}
            await self.send(text_data=json.dumps(frame))
            await services.draft_note_shown(
                self.access, self.scope["user"], event["draft_note"], scope_address(self.scope)
            )

    async def room_unavailable(self, event: dict) -> None:
        """The channel layer stayed unreachable (_receive_through_outages): start afresh."""
        await self._close(
            RoomClosed(CloseCode.UNAVAILABLE, "The room is unavailable for a moment; reconnecting.")
        )

    async def room_denied(self, event: dict) -> None:
        self.participant_id = None  # already removed from the room by the doctor's action
        await self._close(
            RoomClosed(CloseCode.NOT_ALLOWED, "The doctor did not let you in.", ServerFrame.DENIED)
        )

    async def room_removed(self, event: dict) -> None:
        self.participant_id = None
        await self._close(
            RoomClosed(
                CloseCode.NOT_ALLOWED, "The doctor removed you from the visit.", ServerFrame.REMOVED
            )
        )

    async def room_replaced(self, event: dict) -> None:
        self.participant_id = None
        await self._close(
            RoomClosed(CloseCode.REPLACED, "You joined again from another connection.")
        )

    async def user_signed_out(self, event: dict) -> None:
        await self._close(
            RoomClosed(CloseCode.NOT_AUTHENTICATED, "You were signed out; sign in again.")
        )

    async def room_ended(self, event: dict) -> None:
        self.participant_id = None
        await self.send(text_data=json.dumps({"type": ServerFrame.ENDED}))
        await self.close(code=int(CloseCode.ROOM_CLOSED))
