"""What the live room tests run on besides the server (tests/live_server.py): a database of
their own, a redis-server of their own, the seed they share (tests/live_seed.py), and a
WebSocket client (the `websockets` library) that queues frames.

Not a test module; the live tests import it as tests.rooms_live.live_stack.
"""

import asyncio
import atexit
import contextlib
import functools
import json
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests import live_seed
from tests.live_server import free_port, migrate_database, migrated_sqlite

DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"
# The suite's database on the local server when the run sets no REDIS_URL (0 is left to an app).
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/1"


# --- Databases ---------------------------------------------------------------------------------


def env_postgres_url() -> str | None:
    """The run's DATABASE_URL when it names PostgreSQL."""
    url = os.environ.get("DATABASE_URL", "")
    return url if urlsplit(url).scheme in {"postgres", "postgresql", "pgsql"} else None


def _maintenance_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, "/postgres", "", ""))


def postgres_reachable(url: str) -> str | None:
    """None when PostgreSQL at `url` takes connections, else why not."""
    import psycopg

    try:
        with psycopg.connect(_maintenance_url(url), connect_timeout=3):
            return None
    except psycopg.Error as error:
        return f"PostgreSQL at {urlsplit(url).netloc} is unreachable: {error}".strip()


@dataclass
class LiveDatabase:
    """A database made for one test module; `settings` point a server process at it."""

    vendor: str
    settings: dict[str, str]
    _drop: object = field(repr=False, default=None)

    def drop(self) -> None:
        if self._drop:
            self._drop()


def _create_postgres(admin: str, name: str, template: str | None = None) -> None:
    import psycopg
    from psycopg import sql

    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
        connection.execute(create)


def _drop_postgres(admin: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _database_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


@functools.cache
def _migrated_postgres_template(server_url: str) -> str:
    """A database migrated once per run on the server (`manage migrate` takes seconds), that
    each live test's database is created from; dropped when the interpreter exits."""
    admin = _maintenance_url(server_url)
    name = f"clinic_meet_live_template_{secrets.token_hex(4)}"
    _create_postgres(admin, name)
    atexit.register(_drop_postgres, admin, name)
    migrate_database(DATABASE_URL=_database_url(server_url, name))
    return name


def create_postgres_database(server_url: str) -> LiveDatabase:
    """A database of the caller's own on the server, with every migration applied."""
    admin = _maintenance_url(server_url)
    template = _migrated_postgres_template(server_url)
    name = f"clinic_meet_live_{secrets.token_hex(4)}"
    _create_postgres(admin, name, template)
    url = _database_url(server_url, name)
    return LiveDatabase("postgresql", {"DATABASE_URL": url}, lambda: _drop_postgres(admin, name))


def create_sqlite_database(folder: Path) -> LiveDatabase:
    """A SQLite database of the caller's own in `folder`, with every migration applied."""
    path = Path(migrated_sqlite(folder / f"live-{secrets.token_hex(4)}.sqlite3"))

    def drop() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    return LiveDatabase("sqlite", {"SQLITE_PATH": str(path)}, drop)


IDLE_RECEIVE_PROBE = "tests.rooms_live.live_stack:idle_receive_times_out"


def seed(env: dict[str, str], visits: int) -> dict:
    """Fill the (migrated) database in `env` (once per database: usernames repeat):
    `visits` open visits, a patient with no visit (`stranger`), the first doctor's `password`,
    and whether the server's channel layer has the idle-receive bug."""
    password = secrets.token_urlsafe(12)
    data = live_seed.seed(
        env, visits=visits, stranger=True, doctor_password=password, probes=[IDLE_RECEIVE_PROBE]
    )
    data["password"] = password
    data["idle_receive_times_out"] = data["probes"][IDLE_RECEIVE_PROBE]
    return data


def idle_receive_times_out() -> bool:
    """Whether the configured channel layer gives up on an idle receive (a known bug):
    channels_redis waits in BZPOPMIN up to brpop_timeout (5 s) for a message, while redis-py 8
    reads every reply with a default socket timeout of 5 s; so a consumer with nothing to receive
    for 5 s can crash with redis.exceptions.TimeoutError, unless the hosts configure a longer
    socket_timeout."""
    from urllib.parse import parse_qs

    from django.conf import settings

    layer = settings.CHANNEL_LAYERS["default"]
    if not layer["BACKEND"].startswith("channels_redis"):
        return False
    from channels_redis.core import RedisChannelLayer

    try:
        from redis._defaults import DEFAULT_SOCKET_TIMEOUT
    except ImportError:  # redis-py before 8: no read timeout unless configured
        DEFAULT_SOCKET_TIMEOUT = None
    for host in layer.get("CONFIG", {}).get("hosts", []):
        if isinstance(host, dict):
            timeout = host.get("socket_timeout", DEFAULT_SOCKET_TIMEOUT)
        else:
            query = parse_qs(urlsplit(str(host)).query).get("socket_timeout")
            timeout = float(query[0]) if query else DEFAULT_SOCKET_TIMEOUT
        if timeout is not None and timeout <= RedisChannelLayer.brpop_timeout:
            return True
    return False


# The known bug idle_receive_times_out detects.
IDLE_RECEIVE_BUG = (
    "rooms bug: with redis-py 8 (default socket_timeout 5 s) and channels_redis (BZPOPMIN 5 s), "
    "a room consumer that receives no channel-layer message for 5 s crashes with "
    "redis.exceptions.TimeoutError and its socket closes with 1011"
)


# --- Servers -----------------------------------------------------------------------------------


class RedisServer:
    """A redis-server of a test's own on a free port, to stall (SIGSTOP) or take down and bring
    back without touching the Redis other tests and runs share. Its append-only file is written
    on every command, so a restart finds the room state where it was, as a production Redis
    with persistence would."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        import shutil

        import redis

        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.port = self.port or free_port()
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.05)
        client.close()
        return self

    def pause(self) -> None:
        """SIGSTOP: connections stay open, nothing is answered (a stalled Redis)."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        """SIGKILL: connections are reset, new ones refused (Redis down) until start()."""
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.kill()
            self.process.wait(timeout=10)


# --- A WebSocket client ------------------------------------------------------------------------


class SocketClosed(AssertionError):
    pass


class RoomSocket:
    """One real WebSocket into a room; incoming frames are parsed and queued as they arrive.

    With `keepalive`, a `ping` frame goes out that often and the `pong`s are not queued (the
    room drops a participant not heard from for ROOM_SILENCE_TIMEOUT_SECONDS)."""

    def __init__(self, connection: ClientConnection, keepalive: float | None) -> None:
        self.connection = connection
        self.frames: asyncio.Queue = asyncio.Queue()
        self.seen: list[dict] = []
        self.close_code: int | None = None
        self._keepalive_every = keepalive
        self._reader = asyncio.create_task(self._read())
        self._keepalive = asyncio.create_task(self._ping()) if keepalive else None

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        origin: str | None,
        headers: dict[str, str] | None = None,
        keepalive: float | None = None,
    ) -> "RoomSocket":
        connection = await connect(
            url,
            origin=origin,
            additional_headers=headers,
            open_timeout=15,
            max_size=None,
            ping_interval=None,  # liveness is the room's own `ping` frame
        )
        return cls(connection, keepalive)

    async def _read(self) -> None:
        try:
            async for message in self.connection:
                frame = json.loads(message)
                self.seen.append(frame)
                if not (self._keepalive_every and frame.get("type") == "pong"):
                    self.frames.put_nowait(frame)
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.connection.close_code or 1006
            self.frames.put_nowait(None)

    async def _ping(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await self.connection.send('{"type": "ping"}')
                await asyncio.sleep(self._keepalive_every)

    async def send(self, frame: dict | str | bytes) -> None:
        try:
            await self.connection.send(
                frame if isinstance(frame, str | bytes) else json.dumps(frame)
            )
        except ConnectionClosed as closed:
            raise SocketClosed(f"cannot send, the socket is closed: {closed}") from None

    async def next(self, frame_type: str, where=None, timeout: float = 10) -> dict:
        """The next frame of `frame_type` (satisfying `where`), skipping others."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                frame = await asyncio.wait_for(self.frames.get(), max(remaining, 0.001))
            except TimeoutError:
                raise AssertionError(
                    f"no {frame_type!r} frame within {timeout} s; last frames: {self.seen[-5:]}"
                ) from None
            if frame is None:
                self.frames.put_nowait(None)  # stays closed for later reads
                raise SocketClosed(
                    f"socket closed ({self.close_code}) before a {frame_type!r} frame; "
                    f"last frames: {self.seen[-5:]}"
                )
            if frame["type"] == frame_type and (where is None or where(frame)):
                return frame

    async def closed(self, timeout: float = 10) -> int:
        """Wait for the server to close the socket; its close code."""
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.close_code

    async def close(self) -> None:
        if self._keepalive:
            self._keepalive.cancel()
        await self.connection.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, 10)


def roles(state: dict) -> list[str]:
    return sorted(participant["role"] for participant in state["participants"])
