"""The visit room's WebSocket: moves frames between one browser and rooms.services."""

import asyncio
import json
import logging
import time

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from rooms import services
from rooms.protocol import ProtocolError, parse_frame
from rooms.rate_limit import TokenBucket
from rooms.services import ABUSE, REPLACED, TIMED_OUT, RoomClosed
from rooms.state import ADMITTED
from visits.services import user_sockets_group

logger = logging.getLogger(__name__)

# How often each connection looks for silent members (its own client included).
SWEEP_SECONDS = 5.0
# Last-seen times are written at most this often per connection.
TOUCH_SECONDS = 2.0
# Errors (bad frames, floods) a connection may cause before it is closed as abusive.
ABUSE_LIMIT = 200


class RoomConsumer(AsyncWebsocketConsumer):
    access: services.RoomAccess | None = None
    participant_id: str | None = None

    async def connect(self) -> None:
        await self.accept()  # first, so that a refusal can carry its close code
        try:
            self.access = await services.room_access(
                self.scope["user"], self.scope["url_route"]["kwargs"]["room_id"]
            )
        except RoomClosed as closed:
            await self._close(closed)
            return
        # Told to close when the user's credentials change (visits.services.credentials);
        # Channels leaves self.groups on disconnect.
        self.groups.append(user_sockets_group(self.access.user_id))
        await self.channel_layer.group_add(self.groups[-1], self.channel_name)
        self.bucket = TokenBucket(rate=50, burst=100)
        self.errors = 0
        self.last_frame = self.last_touch = time.monotonic()
        self.status = None
        participant = await services.join(self.access, self.channel_name)
        self.participant_id = participant.participant_id
        self.sweeper = asyncio.create_task(self._sweep())

    async def disconnect(self, code) -> None:
        if getattr(self, "sweeper", None):
            self.sweeper.cancel()
        if self.access and self.participant_id:
            await services.leave(self.access, self.participant_id, self.channel_name)
            self.participant_id = None

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if not self.participant_id:
            return
        self.last_frame = time.monotonic()
        try:
            if not self.bucket.take():
                raise ProtocolError("rate_limited", "Too many frames; slow down.")
            command = parse_frame(text_data)
            await self._heard_from()
            await self._dispatch(command.type, command.fields)
        except ProtocolError as error:
            self.errors += 1
            if self.errors > ABUSE_LIMIT:
                await self._close(RoomClosed(ABUSE, "Too many bad frames."))
                return
            if error.code != "rate_limited" or self.bucket.should_report():
                await self.send(text_data=json.dumps(error.frame()))
        except RoomClosed as closed:
            await self._close(closed)
        except Exception:
            # A bug must not take the visit down: report it and keep the socket open.
            logger.exception("room frame failed")
            frame = {"type": "error", "code": "internal", "message": "That did not work."}
            await self.send(text_data=json.dumps(frame))

    async def _dispatch(self, frame_type: str, fields: dict) -> None:
        access, me = self.access, self.participant_id
        if frame_type == "ping":
            await self.send(text_data='{"type":"pong"}')
        elif frame_type == "admit":
            await services.admit(access, me, fields["participant_id"])
        elif frame_type == "deny":
            await services.deny(access, me, fields["participant_id"])
        elif frame_type == "remove":
            await services.remove(access, me, fields["participant_id"])
        elif frame_type == "end":
            await services.end(access, me)
        elif frame_type == "signal":
            await services.relay_signal(access, me, fields["to"], fields["data_json"])
        elif frame_type == "media":
            await services.update_media(access, me, fields)
        elif frame_type == "tracks":
            await services.update_tracks(access, me, fields["session_id"], fields["tracks"])
        elif frame_type == "chat":
            await services.post_chat(access, me, fields["text"])

    async def _heard_from(self) -> None:
        now = time.monotonic()
        if now - self.last_touch >= min(TOUCH_SECONDS, settings.ROOM_SILENCE_TIMEOUT_SECONDS / 4):
            self.last_touch = now
            await services.heard_from(self.access, self.participant_id)

    async def _sweep(self) -> None:
        timeout = settings.ROOM_SILENCE_TIMEOUT_SECONDS
        try:
            while True:
                await asyncio.sleep(min(SWEEP_SECONDS, timeout / 3))
                if time.monotonic() - self.last_frame > timeout:
                    await self._close(RoomClosed(TIMED_OUT, "No frame or ping for too long."))
                    return
                await services.drop_silent(self.access)
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("room sweep failed")

    async def _close(self, closed: RoomClosed) -> None:
        frame = {"type": closed.frame_type, "code": closed.code, "message": closed.reason}
        await self.send(text_data=json.dumps(frame))
        if self.access and self.participant_id:
            await services.leave(self.access, self.participant_id, self.channel_name)
            self.participant_id = None
        await self.close(code=closed.code)

    # --- Events from the channel layer --------------------------------------------------------

    async def room_changed(self, event: dict) -> None:
        if not self.participant_id:
            return
        try:
            state = await services.state_for(self.access, self.participant_id)
        except RoomClosed:
            return  # removed meanwhile: the event that removed us closes the socket
        became_admitted = state["you"]["status"] == ADMITTED and self.status != ADMITTED
        self.status = state["you"]["status"]
        if became_admitted:
            state["chat"] = await services.chat_history(self.access)
        await self.send(text_data=json.dumps(state))

    async def room_signal(self, event: dict) -> None:
        if self.participant_id:
            sender = json.dumps(event["from"])
            await self.send(
                text_data=f'{{"type":"signal","from":{sender},"data":{event["data_json"]}}}'
            )

    async def room_chat(self, event: dict) -> None:
        if self.participant_id and self.status == ADMITTED:
            await self.send(text_data=json.dumps(event["frame"]))

    async def room_denied(self, event: dict) -> None:
        self.participant_id = None  # already removed from the room by the doctor's action
        await self._close(
            RoomClosed(services.NOT_ALLOWED, "The doctor did not let you in.", "room.denied")
        )

    async def room_removed(self, event: dict) -> None:
        self.participant_id = None
        await self._close(
            RoomClosed(
                services.NOT_ALLOWED, "The doctor removed you from the visit.", "room.removed"
            )
        )

    async def room_replaced(self, event: dict) -> None:
        self.participant_id = None
        await self._close(RoomClosed(REPLACED, "You joined again from another connection."))

    async def user_signed_out(self, event: dict) -> None:
        await self._close(
            RoomClosed(services.NOT_AUTHENTICATED, "You were signed out; sign in again.")
        )

    async def room_ended(self, event: dict) -> None:
        self.participant_id = None
        await self.send(text_data='{"type":"room.ended"}')
        await self.close(code=services.ROOM_CLOSED)
