"""Several Daphne processes behind a local HAProxy, as a clinic that outgrew one process runs
them (docs/scaling.md): the processes share one database and one Redis, and the proxy spreads
connections over them with no sticky sessions.

    with LiveCluster(production_environment(DATABASE_URL=..., REDIS_URL=...), folder, 2) as c:
        requests.get(f"{c.http_url}/healthz")        # through the proxy
        c.connections()                              # {"daphne-0": 1, "daphne-1": 2}: open now

    python -m tests.live_cluster --processes 2       # `make cluster`: the demo clinic, served
                                                     # until Ctrl-C

Test tooling beside tests/live_server.py (whose LiveServer starts each process, HAProxy too),
used by bench/signaling.py and tests/e2e/test_scale_out.py. Not a test module.

What it gives:
- `LiveCluster(env, folder, processes)`: `processes` x `python -m clinic.server` in `env` (each
  a LiveServer, its log `daphne-<i>.log` in `folder`), then `haproxy -db` on a free port with
  docker/haproxy-local.cfg.template rendered into `folder`; ready once HAProxy's health checks
  (GET /healthz) see every process up. `kill(i)` SIGKILLs a process (its sockets drop, it leaves
  no room); `connections()` reads how many connections each process holds from the stats socket;
  `cpu_seconds()` what each process (and the proxy) spent.
- `haproxy_executable()`: Debian's haproxy (`make haproxy` installs it).
- `create_database(name)` / `drop_database(name)`: a PostgreSQL database of the caller's own.
"""

import argparse
import contextlib
import csv
import os
import shutil
import signal
import socket
import string
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.live_server import (
    REPO,
    LiveServer,
    ServerDidNotStart,
    manage,
    process_cpu_seconds,
    production_environment,
)

TEMPLATE = REPO / "docker" / "haproxy-local.cfg.template"
HAPROXY = "/usr/sbin/haproxy"
BACKEND = "web"
CHECK_INTERVAL = "1s"  # health checks per process; two failures (2 s) take a dead one out
READY_TIMEOUT_SECONDS = 30


def haproxy_executable() -> str:
    found = shutil.which("haproxy") or (HAPROXY if Path(HAPROXY).exists() else None)
    if not found:
        raise ServerDidNotStart("haproxy is missing: `make haproxy` installs Debian's")
    return found


class LiveCluster:
    """`processes` Daphne processes in `env` behind one HAProxy; everything in `folder`."""

    def __init__(
        self,
        env: dict[str, str],
        folder: Path,
        processes: int = 2,
        *,
        balance: str = "leastconn",
        port: int | None = None,
    ) -> None:
        self.env = env
        self.folder = Path(folder)
        self.balance = balance
        self.fixed_port = port
        self.servers = [
            LiveServer(env, self.folder / f"daphne-{index}.log", name=f"daphne-{index}")
            for index in range(processes)
        ]
        self.proxy = LiveServer(
            dict(os.environ),
            self.folder / "haproxy.log",
            command=self._haproxy_command,
            ready=lambda _url: self._all_up(),
            name="haproxy",
        )
        # A Unix socket's path must stay short (108 bytes): not under a deep test folder.
        self.stats_socket = Path(tempfile.mkdtemp(prefix="clinic-haproxy-")) / "stats.sock"

    # --- Starting and stopping ------------------------------------------------------------------

    def render(self, port: int) -> Path:
        servers = "\n".join(
            f"    server {name} 127.0.0.1:{server.port}" for name, server in self.named()
        )
        text = string.Template(TEMPLATE.read_text()).substitute(
            port=port,
            stats_socket=self.stats_socket,
            servers=servers,
            balance=self.balance,
            check_interval=CHECK_INTERVAL,
        )
        path = self.folder / "haproxy.cfg"
        path.write_text(text)
        return path

    def _haproxy_command(self, port: int) -> list[str]:
        if self.fixed_port:
            port = self.proxy.port = self.fixed_port
        return [haproxy_executable(), "-db", "-f", str(self.render(port))]

    def start(self) -> "LiveCluster":
        try:
            for server in self.servers:
                server.start()
            self.proxy.start_timeout = READY_TIMEOUT_SECONDS
            self.proxy.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.proxy.stop()
        for server in self.servers:
            server.stop()
        shutil.rmtree(self.stats_socket.parent, ignore_errors=True)

    def __enter__(self) -> "LiveCluster":
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

    # --- What it serves -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self.proxy.port

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def named(self) -> list[tuple[str, LiveServer]]:
        return [(server.name, server) for server in self.servers]

    def kill(self, index: int) -> None:
        """SIGKILL to process `index`: its sockets drop at once, and it leaves no room."""
        self.servers[index].kill()

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) each live process and the proxy spent so far."""
        spent = {name: process_cpu_seconds(s.pid) for name, s in self.named() if s.alive()}
        spent["haproxy"] = process_cpu_seconds(self.proxy.pid)
        return spent

    # --- HAProxy's stats socket -----------------------------------------------------------------

    def command(self, line: str) -> str:
        """One command on HAProxy's stats socket (`show stat`, `show sess`...); its answer."""
        with socket.socket(socket.AF_UNIX) as stats:
            stats.settimeout(5)
            stats.connect(str(self.stats_socket))
            stats.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := stats.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def stats(self) -> dict[str, dict[str, str]]:
        """`show stat` of the backend's servers: {name: {status, scur, stot, ...}}."""
        with contextlib.suppress(OSError):
            text = self.command("show stat").lstrip("# ")
            return {
                row["svname"]: row
                for row in csv.DictReader(text.splitlines())
                if row.get("pxname") == BACKEND and row["svname"] not in {"FRONTEND", "BACKEND"}
            }
        return {}

    def _all_up(self) -> bool:
        stats = self.stats()
        return len(stats) == len(self.servers) and all(
            row["status"] in {"UP", "no check"} for row in stats.values()
        )

    def status(self) -> dict[str, str]:
        """Each process's health as the proxy sees it: "UP", "DOWN", "UP 1/2"..."""
        return {name: row["status"] for name, row in self.stats().items()}

    def connections(self) -> dict[str, int]:
        """How many connections (a WebSocket for as long as it is open) each process holds."""
        return {name: int(row["scur"] or 0) for name, row in self.stats().items()}


# --- Databases ---------------------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


def _admin(url: str):
    import psycopg

    return psycopg.connect(_with_database(url, "postgres"), autocommit=True, connect_timeout=5)


def create_database(server_url: str, name: str) -> str:
    """A new, empty PostgreSQL database `name` on the server of `server_url`; its URL."""
    from psycopg import sql

    with _admin(server_url) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    from psycopg import sql

    with _admin(server_url) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


# Plain HTTP through the local proxy: the HTTPS-only cookies off, as docker-compose.yml has them.
PLAIN_HTTP = {
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
    "SECURE_HSTS_SECONDS": "0",
    "NUM_PROXIES": "1",  # the proxy sets X-Forwarded-For (docker/haproxy-local.cfg.template)
}


def demo_environment(database_url: str, redis_url: str, **settings: str) -> dict[str, str]:
    """A production environment (DEBUG off) on `database_url` and `redis_url`, over plain HTTP
    behind the proxy."""
    return production_environment(
        DATABASE_URL=database_url, REDIS_URL=redis_url, **PLAIN_HTTP, **settings
    )


def seed_demo(env: dict[str, str]) -> None:
    """Migrates the database of `env` and seeds the demo clinic (its public passwords: a
    throwaway database only)."""
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "seed_demo", "--allow-production")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="The demo clinic on N Daphne processes behind a local HAProxy, until Ctrl-C."
    )
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--port", type=int, default=8000, help="where the proxy listens")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="a PostgreSQL database the processes share (default: $DATABASE_URL); migrated "
        "and seeded with the demo clinic",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL", ""),
        help="the Redis they share (default: $REDIS_URL)",
    )
    options = parser.parse_args(argv)
    if not urlsplit(options.database_url).scheme.startswith("postgres") or not options.redis_url:
        parser.error("several processes share one PostgreSQL and one Redis: give both URLs")
    folder = Path(tempfile.mkdtemp(prefix="clinic-cluster-"))
    env = demo_environment(options.database_url, options.redis_url)
    seed_demo(env)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with LiveCluster(env, folder, options.processes, port=options.port) as cluster:
        for name, server in cluster.named():
            print(f"{name}: pid {server.pid}, http://127.0.0.1:{server.port}, {server.log_path}")
        print(f"haproxy: pid {cluster.proxy.pid}, stats socket {cluster.stats_socket}")
        print(f"The demo clinic on {options.processes} processes: {cluster.http_url} (Ctrl-C)")
        with contextlib.suppress(KeyboardInterrupt):
            while all(server.alive() for server in [*cluster.servers, cluster.proxy]):
                time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
