"""Clinic Meet served for real, for the live tests and the benchmarks: one way to start a server
process, know it is up, and stop it.

    with LiveServer(production_environment(SQLITE_PATH=...), log_path) as server:
        requests.get(f"{server.http_url}/healthz")

It lives in tests/ because it is test tooling, not product (the package installs only clinic,
visits and rooms) and not a benchmark: pytest finds it from the repository root, and the
benchmarks, which also run from the repository root, import it as `tests.live_server`
(tests/ never imports bench/). Not a test module.

What it gives:
- `free_port()`;
- `production_environment(**settings)`: DEBUG off, a random SECRET_KEY, the static files
  collected once per run (a production server refuses to start without them), settings of its
  own never inherited from the caller's environment; `development_environment(**settings)`
  for a DEBUG server (as `make run` serves);
- `manage(env, ...)` and `run_python(env, ...)`: a command in the server's environment;
- `migrated_sqlite(path)`: a SQLite database with every migration applied, copied from one
  migrated once per run (`manage migrate` takes ~5 s); `migrate_database(**settings)`;
- `LiveServer`: `python -m clinic.server -b 127.0.0.1 -p PORT clinic.asgi:application` (Daphne
  with the clinic's connection timeouts, as deployed) in a process group of its own, its output
  in a log file; a new port when the one picked was taken meanwhile; ready once `GET /healthz`
  answers 200 (or another probe), else `ServerDidNotStart` with the log's tail; stopped with
  SIGTERM, then SIGKILL, to the whole group. Every server still running when the interpreter
  exits is stopped;
- `LiveWorker`: the recordings' worker (`manage.py recordings_worker`, as `make run` starts it
  beside the server) in the same environment, process group and log handling, ready once it
  logs that it is taking tasks:

    with LiveServer(env, tmp / "daphne.log") as server, LiveWorker(env, tmp / "worker.log"):
        ...  # a stopped recording is finalised
"""

import atexit
import contextlib
import functools
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
APP = "clinic.asgi:application"
START_TIMEOUT_SECONDS = 90
STOP_TIMEOUT_SECONDS = 15
START_ATTEMPTS = 3  # a free port can be taken between probing and binding
PORT_TAKEN = "address already in use"  # Twisted and asyncio word it alike, but for case
# Settings a server gets from its caller only, never inherited from the environment of the run.
OWN_SETTINGS = frozenset(
    {
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
        "CALLS_APP_ID",
        "CALLS_APP_SECRET",
        "CALLS_API_URL",
        "RECORDINGS_KEY",
        "MEDIA_ROOT",
        "MFA_REQUIRED_ROLES",
    }
)
# Live servers sign people in with the password alone unless a test asks for two-step sign-in
# (tests/e2e/test_mfa.py gives its server MFA_REQUIRED_ROLES itself).
ONE_STEP_SIGN_IN = {"MFA_REQUIRED_ROLES": ""}


class ServerDidNotStart(RuntimeError):
    """The server exited, or did not become ready in time; the message ends with its log."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_cpu_seconds(pid: int) -> float:
    """CPU time a process has spent so far (utime + stime, /proc/<pid>/stat), for the benches."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _inherited() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name not in OWN_SETTINGS}


@functools.cache
def collected_static_root() -> str:
    """collectstatic's output, made once per run (clinic/static_files.py: production servers
    refuse to start without it); removed when the interpreter exits."""
    root = Path(tempfile.mkdtemp(prefix="clinic-static-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    env = {
        **_inherited(),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "STATIC_ROOT": str(root),
    }
    manage(env, "collectstatic", "--noinput", timeout=120)
    return str(root)


def migrate_database(**settings: str) -> None:
    """`manage migrate` on the database that `settings` (SQLITE_PATH or DATABASE_URL) name."""
    env = {
        **_inherited(),
        "DJANGO_SETTINGS_MODULE": "clinic.settings",
        "SECRET_KEY": secrets.token_urlsafe(50),
        **settings,
    }
    manage(env, "migrate", "--noinput", "-v0")


@functools.cache
def _migrated_sqlite_template() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="clinic-migrated-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "migrated.sqlite3"
    migrate_database(SQLITE_PATH=str(path))
    return path


def migrated_sqlite(destination: str | Path) -> str:
    """Makes `destination` a SQLite database with every migration applied and no rows of its
    own: a copy of one migrated once per run. SQLite's backup, not a file copy: the template is
    in WAL mode, and the copy holds every committed page whatever is still in the -wal file."""
    with (
        contextlib.closing(sqlite3.connect(_migrated_sqlite_template())) as template,
        contextlib.closing(sqlite3.connect(destination)) as copy,
    ):
        template.backup(copy)
    return str(destination)


def production_environment(**settings: str) -> dict[str, str]:
    """The environment of a production-like server: DEBUG off, a random key, collected static
    files, plain HTTP on 127.0.0.1 (no HTTPS redirect); `settings` add to it or override it.
    Give a SECRET_KEY when something outside the server (a seeding process) mints its tokens."""
    return {
        **_inherited(),
        "DJANGO_SETTINGS_MODULE": "clinic.settings",
        "STATIC_ROOT": collected_static_root(),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
        **ONE_STEP_SIGN_IN,
        **settings,
    }


def development_environment(**settings: str) -> dict[str, str]:
    """The environment of a DEBUG server, as `make run` has it (static files from the finders),
    with a random key rather than the checkout's."""
    return {
        **_inherited(),
        "DJANGO_SETTINGS_MODULE": "clinic.settings",
        "DEBUG": "true",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PYTHONUNBUFFERED": "1",
        **ONE_STEP_SIGN_IN,
        **settings,
    }


def run_python(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """`python <args>` from the repository root in `env`; its stdout, or a failure showing its
    output."""
    done = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"python {' '.join(args[:2])} failed ({done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        )
    return done.stdout


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """`manage.py <args>` in `env`; its stdout."""
    return run_python(env, "manage.py", *args, timeout=timeout)


def answers_healthz(base_url: str) -> bool:
    """The default readiness probe: GET /healthz answers 200."""
    try:
        return requests.get(f"{base_url}/healthz", timeout=3).status_code == 200
    except requests.RequestException:  # not listening yet, or slow on a busy machine
        return False


def accepts_connections(base_url: str) -> bool:
    """A readiness probe for an application without /healthz: the port takes a connection."""
    host, _, port = base_url.removeprefix("http://").partition(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return True
    except OSError:
        return False


def stop_process_group(process: subprocess.Popen, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM to the process's group (it must lead one: start_new_session), SIGKILL to it
    after `timeout`."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


_running: "weakref.WeakSet[LiveServer | LiveWorker]" = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_running):
        server.stop()


class LiveServer:
    """One server process, in a process group of its own, its output in `log_path`.

    `command(port)` is what runs (default: `python -m clinic.server` serving `app`), prefixed
    by `wrap` (e.g. to run it in a network namespace); `ready(base_url)` says when it is up
    (default: /healthz answers 200)."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        *,
        app: str = APP,
        command: Callable[[int], Sequence[str]] | None = None,
        wrap: Sequence[str] = (),
        ready: Callable[[str], bool] = answers_healthz,
        name: str = "server",
        start_timeout: float = START_TIMEOUT_SECONDS,
        stop_timeout: float = STOP_TIMEOUT_SECONDS,
    ) -> None:
        self.env = env
        self.log_path = Path(log_path)
        self.app = app
        self.command = command or self._clinic_server
        self.wrap = tuple(wrap)
        self.ready = ready
        self.name = name
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen | None = None
        self.port = 0

    def _clinic_server(self, port: int) -> list[str]:
        return [sys.executable, "-m", "clinic.server", "-b", "127.0.0.1", "-p", str(port), self.app]

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return self.http_url

    @property
    def pid(self) -> int:
        return self.process.pid

    def room_url(self, room_id: str, query: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}/ws/rooms/{room_id}/" + (f"?{query}" if query else "")

    def start(self) -> "LiveServer":
        for _attempt in range(START_ATTEMPTS):
            self.port = free_port()
            logged_before = len(self.log())
            with self.log_path.open("a") as log:
                self.process = subprocess.Popen(
                    [*self.wrap, *self.command(self.port)],
                    cwd=REPO,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            _running.add(self)
            why = self._wait_ready()
            if why is None:
                return self
            self.stop()
            if PORT_TAKEN not in self.log()[logged_before:].lower():
                break
        raise ServerDidNotStart(
            f"{self.name} on port {self.port} {why}; {self.log_path}, last lines:\n"
            f"{self.log_tail()}"
        )

    def _wait_ready(self) -> str | None:
        """None once the server is ready, else why it is not."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return f"exited with {self.process.returncode}"
            if self.ready(self.http_url):
                return None
            time.sleep(0.25)
        return f"was not ready within {self.start_timeout:.0f} s"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the process dies without closing a socket or leaving a room."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process, self.stop_timeout)
        _running.discard(self)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def errors(self, *, ignore: tuple[str, ...] = ()) -> list[str]:
        """Lines the server logged at ERROR or above (each traceback comes with one), except
        those containing one of `ignore`."""
        return [
            line
            for line in self.log().splitlines()
            if (" ERROR " in line or " CRITICAL " in line)
            and not any(known in line for known in ignore)
        ]

    def __enter__(self) -> "LiveServer":
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()


# What db_worker logs once it polls the queue (django_tasks_db's Worker.run).
WORKER_STARTED = "Starting worker"


class LiveWorker:
    """The recordings' worker process beside a LiveServer: `manage.py recordings_worker` in
    `env` (give it the server's: same database, storage and RECORDINGS_KEY), polling every
    `interval` seconds, in a process group of its own, its output in `log_path`. Ready once it
    has logged WORKER_STARTED (the periodic tasks are enqueued by then), else
    `ServerDidNotStart` with the log's tail; stopped like a server."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        *,
        interval: float = 0.5,
        name: str = "worker",
        start_timeout: float = START_TIMEOUT_SECONDS,
        stop_timeout: float = STOP_TIMEOUT_SECONDS,
    ) -> None:
        self.env = env
        self.log_path = Path(log_path)
        self.interval = interval
        self.name = name
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "manage.py",
            "recordings_worker",
            "--no-reload",
            "--no-startup-delay",
            "--interval",
            str(self.interval),
        ]

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self) -> "LiveWorker":
        logged_before = len(self.log())
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _running.add(self)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if WORKER_STARTED in self.log()[logged_before:]:
                return self
            if self.process.poll() is not None:
                why = f"exited with {self.process.returncode}"
                break
            time.sleep(0.2)
        else:
            why = f"did not start within {self.start_timeout:.0f} s"
        self.stop()
        raise ServerDidNotStart(
            f"{self.name} {why}; {self.log_path}, last lines:\n{self.log_tail()}"
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process, self.stop_timeout)
        _running.discard(self)

    log = LiveServer.log
    log_tail = LiveServer.log_tail
    errors = LiveServer.errors

    def __enter__(self) -> "LiveWorker":
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()
