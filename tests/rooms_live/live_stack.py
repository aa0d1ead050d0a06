"""Real servers for the live room tests: a database of their own, Daphne processes started as
`make run` starts them, and a WebSocket client (the `websockets` library) that queues frames.

Not a test module; the live tests import it as tests.rooms_live.live_stack.
"""

import asyncio
import atexit
import contextlib
import functools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

REPO = Path(__file__).resolve().parents[2]
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"
# The suite's database on the local server when the run sets no REDIS_URL (0 is left to an app).
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/1"
START_TIMEOUT_SECONDS = 90
# Settings the servers get from us only, never inherited from the test run's environment.
_OWN_SETTINGS = {
    "DATABASE_URL",
    "REDIS_URL",
    "SQLITE_PATH",
    "ROOM_SILENCE_TIMEOUT_SECONDS",
    "ROOM_STATE_KEY_PREFIX",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "DEBUG",
    "SECRET_KEY",
    "STATIC_ROOT",
    "SECURE_SSL_REDIRECT",
    "DJANGO_SETTINGS_MODULE",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@functools.cache
def collected_static_root() -> str:
    """collectstatic's output, made once per test run: production servers refuse to start
    without it (clinic/static_files.py)."""
    root = Path(tempfile.mkdtemp(prefix="clinic-static-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    env = {name: value for name, value in os.environ.items() if name not in _OWN_SETTINGS}
    env.update(DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50), STATIC_ROOT=str(root))
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return str(root)


def server_environment(**settings: str) -> dict[str, str]:
    """The environment of a production-like server process: DEBUG off, a random key."""
    env = {name: value for name, value in os.environ.items() if name not in _OWN_SETTINGS}
    env.update(
        DJANGO_SETTINGS_MODULE="clinic.settings",
        STATIC_ROOT=collected_static_root(),
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        SECURE_SSL_REDIRECT="false",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
        **settings,
    )
    return env


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


def create_postgres_database(server_url: str) -> LiveDatabase:
    import psycopg
    from psycopg import sql

    name = f"clinic_meet_live_{secrets.token_hex(4)}"
    admin = _maintenance_url(server_url)
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    parts = urlsplit(server_url)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))
    return LiveDatabase("postgresql", {"DATABASE_URL": url}, drop)


def create_sqlite_database(folder: Path) -> LiveDatabase:
    path = folder / f"live-{secrets.token_hex(4)}.sqlite3"

    def drop() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    return LiveDatabase("sqlite", {"SQLITE_PATH": str(path)}, drop)


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """Run manage.py with `env`; its output, or a failure that shows it."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"manage.py {args[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout


# Visits whose rooms are open now (confirmed, starting in five minutes), each with a doctor and a
# patient of its own, plus one patient with no visit; access tokens made with the server's key.
# The doctor of the first visit keeps a real password, for signing in through the API.
_SEED = """
import json, os
from django.test.utils import override_settings
from rest_framework_simplejwt.tokens import AccessToken
from tests.factories import PASSWORD, at, make_appointment, make_patient
from tests.rooms_live.live_stack import idle_receive_times_out

def token(user):
    return str(AccessToken.for_user(user))

def person(user):
    return {"user_id": user.id, "username": user.username, "token": token(user)}

with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
    visits = [
        make_appointment(start=at(minutes=5), status="confirmed")
        for _ in range(int(os.environ["LIVE_SEED_VISITS"]))
    ]
    stranger = make_patient().user
first_doctor = visits[0].doctor.user
first_doctor.set_password(PASSWORD)
first_doctor.save(update_fields=["password"])
print("LIVE_SEED " + json.dumps({
    "idle_receive_times_out": idle_receive_times_out(),
    "password": PASSWORD,
    "stranger": person(stranger),
    "visits": [
        {
            "id": v.pk,
            "room_id": str(v.room_id),
            "doctor": {**person(v.doctor.user), "display_name": v.doctor.display_name},
            "patient": {**person(v.patient.user), "display_name": v.patient.full_name},
        }
        for v in visits
    ],
}))
"""


def seed(env: dict[str, str], visits: int) -> dict:
    """Migrate the database in `env` and fill it (once per database: usernames repeat)."""
    manage(env, "migrate", "--noinput")
    output = manage({**env, "LIVE_SEED_VISITS": str(visits)}, "shell", "-c", _SEED)
    line = next(line for line in output.splitlines() if line.startswith("LIVE_SEED "))
    return json.loads(line.removeprefix("LIVE_SEED "))


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
IDLE_RECEIVE_ERROR = "Timeout reading from"  # how its crashes show in a server's log
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


class DaphneServer:
    """`daphne -b 127.0.0.1 -p <port> clinic.asgi:application` in a process group of its own."""

    def __init__(self, name: str, env: dict[str, str], log_folder: Path) -> None:
        self.name = name
        self.env = env
        self.log_path = log_folder / f"daphne-{name}.log"
        self.process: subprocess.Popen | None = None
        self.port = 0

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return self.http_url

    def room_url(self, room_id: str, query: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}/ws/rooms/{room_id}/" + (f"?{query}" if query else "")

    def start(self) -> "DaphneServer":
        for _attempt in range(3):  # a free port can be taken between probing and binding
            self.port = free_port()
            with self.log_path.open("a") as log:
                self.process = subprocess.Popen(
                    [
                        sys.executable,  # Daphne as deployed: with the clinic's timeouts
                        "-m",
                        "clinic.server",
                        "-b",
                        "127.0.0.1",
                        "-p",
                        str(self.port),
                        "clinic.asgi:application",
                    ],
                    cwd=REPO,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            if self._wait_healthy():
                return self
            if "Address already in use" not in self.log():
                break
        raise RuntimeError(f"Daphne {self.name} did not come up:\n{self.log()[-5000:]}")

    def _wait_healthy(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.http_url}/healthz", timeout=3).status_code == 200:
                    return True
            time.sleep(0.3)
        self.stop()
        return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the process dies without closing a socket or leaving a room."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if not self.alive():
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def errors(self, *, ignore: tuple[str, ...] = ()) -> list[str]:
        """Lines the server logged at ERROR or above (each traceback comes with one), except
        those containing one of `ignore`."""
        return [
            line
            for line in self.log().splitlines()
            if (" ERROR " in line or " CRITICAL " in line)
            and not any(known in line for known in ignore)
        ]


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
