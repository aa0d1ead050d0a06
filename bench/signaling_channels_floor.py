"""The design's own floor for bench/signaling.py: the bare relay of bench/signaling_floor.py
written as a Channels consumer, served by Daphne, relaying through channels-redis.

    python -m bench.signaling_channels_floor --port 8766      (REDIS_URL: channels-redis's
                                                               pub/sub layer; unset: in-memory)

The same protocol subset as bench/signaling_floor.py (rooms keyed by the URL path, the `role`
query parameter, `room.state` hellos, `signal`, `admit`, `ping`) and the same in-process dict of
rooms, but every frame takes the clinic's path through the fixed design: Twisted and autobahn
under Daphne, Channels' consumer machinery, and one channel-layer send per relayed frame (one
PUBLISH with Redis), as rooms/consumers.py relays. No Django ORM, no authentication, no room
rules: what the app costs beyond this is the app's; what this costs beyond the `websockets`
floor is the design's (Daphne, Channels, channels-redis), which the clinic keeps.
"""

import argparse
import json
import os
import secrets
import sys
from dataclasses import dataclass
from urllib.parse import parse_qs

import django
from django.conf import settings


def _configure() -> None:
    redis_url = os.environ.get("REDIS_URL")
    layer = (
        {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": "clinicmeet:bench-floor"},
        }
        if redis_url
        else {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    )
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only",  # noqa: S106 - nothing here is signed
        INSTALLED_APPS=["channels"],
        CHANNEL_LAYERS={"default": layer},
        ASGI_APPLICATION="bench.signaling_channels_floor.application",
    )
    django.setup()


if not settings.configured:  # run as __main__, Daphne imports this module once more by name
    _configure()

from channels.consumer import get_handler_name  # noqa: E402
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402 - needs settings
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

# The same frames as the bare relay's, so the load generator sees one protocol.
from bench.signaling_floor import ADMITTED, WAITING, _error, _state  # noqa: E402


@dataclass
class Member:
    participant_id: str
    role: str
    status: str
    channel_name: str


rooms: dict[str, dict[str, Member]] = {}


class FloorRelay(AsyncWebsocketConsumer):
    me: Member | None = None

    async def dispatch(self, message: dict) -> None:
        # As rooms/consumers.py: Channels' own dispatch hops to a thread per message to close
        # database connections, and this relay has none.
        await getattr(self, get_handler_name(message))(message)

    async def connect(self) -> None:
        await self.accept()
        self.room = self.scope["path"]
        query = parse_qs(self.scope["query_string"].decode())
        role = "doctor" if query.get("role", ["patient"])[0] == "doctor" else "patient"
        self.members = rooms.setdefault(self.room, {})
        self.me = Member(
            participant_id=secrets.token_urlsafe(9),
            role=role,
            status=ADMITTED if role == "doctor" else WAITING,
            channel_name=self.channel_name,
        )
        self.members[self.me.participant_id] = self.me
        await self.send(text_data=_state(self.members, self.me))  # the newcomer's hello
        await self._tell_others()

    async def _tell_others(self) -> None:
        for member in list(self.members.values()):
            if member is not self.me:
                await self.channel_layer.send(member.channel_name, {"type": "room.changed"})

    async def disconnect(self, code) -> None:
        if self.me is not None:
            self.members.pop(self.me.participant_id, None)
            if self.members:
                await self._tell_others()
            elif rooms.get(self.room) is self.members:
                del rooms[self.room]

    async def receive(self, text_data=None, bytes_data=None) -> None:
        try:
            frame = json.loads(text_data)
            kind = frame["type"]
        except (ValueError, TypeError, KeyError):
            await self.send(text_data=_error("bad_frame", "Send JSON objects with a 'type'."))
            return
        if kind == "signal":
            target = self.members.get(frame.get("to"))
            if target is None or target is self.me or self.me.status != ADMITTED:
                await self.send(text_data=_error("not_found", "No such member."))
                return
            await self.channel_layer.send(
                target.channel_name,
                {"type": "room.signal", "from": self.me.participant_id, "data": frame.get("data")},
            )
        elif kind == "admit":
            target = self.members.get(frame.get("participant_id"))
            if self.me.role != "doctor" or target is None or target.status != WAITING:
                await self.send(text_data=_error("conflict", "Nobody to admit."))
                return
            target.status = ADMITTED
            await self.send(text_data=_state(self.members, self.me))
            await self._tell_others()
        elif kind == "ping":
            await self.send(text_data='{"type":"pong"}')
        else:
            await self.send(text_data=_error("unknown_type", "Unknown frame type."))

    async def room_signal(self, event: dict) -> None:
        relayed = {"type": "signal", "from": event["from"], "data": event["data"]}
        await self.send(text_data=json.dumps(relayed))

    async def room_changed(self, event: dict) -> None:
        if self.me is not None:
            await self.send(text_data=_state(self.members, self.me))


application = ProtocolTypeRouter(
    {"websocket": URLRouter([re_path(r"^ws/rooms/[^/]+/$", FloorRelay.as_asgi())])}
)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    from daphne.cli import CommandLineInterface

    # Daphne's keep-alive pings as the clinic's (clinic.server passes the same).
    CommandLineInterface().run(
        [
            "-b",
            arguments.host,
            "-p",
            str(arguments.port),
            "--ping-interval=20",
            "--ping-timeout=30",
            "bench.signaling_channels_floor:application",
        ]
    )
    sys.exit(0)
