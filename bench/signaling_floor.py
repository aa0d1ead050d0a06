"""The floor for bench/signaling.py: a bare signal relay written directly on `websockets`.

    python -m bench.signaling_floor --port 8765      (prints "ready <port>" once listening)

No Django, no Channels, no Redis, no database, no checks beyond what routing needs: one process
and a dict of rooms in memory. It speaks just enough of the room protocol (docs in
rooms/protocol.py) for the benchmark's load generator to drive it unchanged:

- rooms are keyed by the URL path; a member registers on connect (no token check), as a doctor
  or a patient after the `role` query parameter (the load generator sends it to both servers;
  Daphne ignores it). Patients wait until a doctor admits them, as in the real room;
- every member gets a small `room.state` on connect (its hello, so that "join latency" means
  connect -> first server frame on both servers) and again when the room changes;
- `signal` goes to the member named by `to`, with `from` set by the server; `admit` lets a
  waiting member in; `ping` gets a `pong`. Anything else is answered with an `error` frame.
"""

import argparse
import asyncio
import contextlib
import json
import secrets
import signal
import sys
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

WAITING, ADMITTED = "waiting", "admitted"


@dataclass
class Member:
    participant_id: str
    role: str
    status: str
    connection: ServerConnection


rooms: dict[str, dict[str, Member]] = {}


def _state(members: dict[str, Member], me: Member) -> str:
    return json.dumps(
        {
            "type": "room.state",
            "you": {"participant_id": me.participant_id, "role": me.role, "status": me.status},
            "participants": [
                {"participant_id": m.participant_id, "role": m.role, "status": m.status}
                for m in members.values()
            ],
        }
    )


async def _send(member: Member, text: str) -> None:
    with contextlib.suppress(ConnectionClosed):  # it is leaving; its handler removes it
        await member.connection.send(text)


async def _broadcast_state(members: dict[str, Member], first: Member | None = None) -> None:
    """Everyone's own view of the room; `first` (a newcomer: its hello) before the others."""
    order = [first] if first else []
    order += [member for member in members.values() if member is not first]
    for member in order:
        await _send(member, _state(members, member))


def _error(code: str, message: str) -> str:
    return json.dumps({"type": "error", "code": code, "message": message})


async def _handle(connection: ServerConnection) -> None:
    url = urlsplit(connection.request.path)
    role = parse_qs(url.query).get("role", ["patient"])[0]
    members = rooms.setdefault(url.path, {})
    me = Member(
        participant_id=secrets.token_urlsafe(9),
        role="doctor" if role == "doctor" else "patient",
        status=ADMITTED if role == "doctor" else WAITING,
        connection=connection,
    )
    members[me.participant_id] = me
    try:
        await _broadcast_state(members, first=me)  # the newcomer's hello, then the others
        async for message in connection:
            try:
                frame = json.loads(message)
                kind = frame["type"]
            except (ValueError, TypeError, KeyError):
                await connection.send(_error("bad_frame", "Send JSON objects with a 'type'."))
                continue
            if kind == "signal":
                target = members.get(frame.get("to"))
                if target is None or target is me or me.status != ADMITTED:
                    await connection.send(_error("not_found", "No such member."))
                    continue
                relayed = {"type": "signal", "from": me.participant_id, "data": frame.get("data")}
                await _send(target, json.dumps(relayed))
            elif kind == "admit":
                target = members.get(frame.get("participant_id"))
                if me.role != "doctor" or target is None or target.status != WAITING:
                    await connection.send(_error("conflict", "Nobody to admit."))
                    continue
                target.status = ADMITTED
                await _broadcast_state(members)
            elif kind == "ping":
                await connection.send('{"type":"pong"}')
            else:
                await connection.send(_error("unknown_type", "Unknown frame type."))
    except ConnectionClosed:
        pass
    finally:
        members.pop(me.participant_id, None)
        if members:
            await _broadcast_state(members)
        elif rooms.get(url.path) is members:
            del rooms[url.path]


async def main(host: str, port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
    # No permessage-deflate (Daphne does not offer it either); keep-alive pings as Daphne's;
    # the listen backlog stays asyncio's default (Daphne's -b/-p gives Twisted's 50).
    async with serve(
        _handle, host, port, compression=None, ping_interval=20, ping_timeout=30
    ) as server:
        bound = server.sockets[0].getsockname()[1]
        print(f"ready {bound}", flush=True)
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    arguments = parser.parse_args()
    try:
        asyncio.run(main(arguments.host, arguments.port))
    except KeyboardInterrupt:
        sys.exit(130)
