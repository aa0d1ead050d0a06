"""Visit-room signaling under load: Daphne + Channels + channels-redis against a bare relay.

    .venv/bin/python -m bench.signaling                  N = 50, 200, 500 rooms (~5 minutes)
    .venv/bin/python -m bench.signaling --quick          N = 20 only
    .venv/bin/python -m bench.signaling --rooms 50,200   chosen sizes
    .venv/bin/python -m bench.signaling --processes 1,2  Daphne x1 and x2 behind HAProxy
                                                         (tests/live_cluster.py): the scale-out

Each room has a doctor and a patient. For every N the same load generator (asyncio +
`websockets`, in this process) drives three servers, one after the other:

  daphne  the app as deployed: `python -m clinic.server clinic.asgi:application` (Daphne
          with the clinic's connection timeouts), one process, PostgreSQL,
          channels-redis and the Redis room state (REDIS_URL on a dedicated Redis db);
  channels  bench/signaling_channels_floor.py: the design's floor, the same bare relay as a
          Channels consumer on Daphne relaying through channels-redis (no app);
  floor   bench/signaling_floor.py: a relay written directly on `websockets`, nothing else.

Per N and server: the doctors connect, then the patients (at most --join-concurrency handshakes
in flight); join latency = connect start -> first `room.state` (a patient's says "waiting").
Each doctor admits its patient (admit latency = admit sent -> the patient's "admitted" state).
Then every pair plays K rounds of ping-pong with `signal` frames carrying an ICE-candidate-sized
payload and the send time: one-way relay latency is measured on the one clock of this process.
A connection sends at most one frame per --pace-ms (the room allows 50 frames/s per
connection), so `offered` = 2N x 1000/pace is the most the pairs can ask for; below that the
server (or the shared CPU) is the limit. Memory per connection = server RSS growth from before
the first socket (after a warm-up room) to all 2N connected and admitted, / 2N.

No new round starts after --max-exchange-seconds, so a server slower than planned costs
seconds rather than an hour (the rooms it cut short are reported).

With --processes, the Daphne runs go through a local HAProxy (leastconn, health checks on
/healthz) in front of that many processes sharing the database and Redis, as docs/scaling.md
deploys them, and the floor is not run: the figures to read are x2 against x1, in the same run,
with the CPU of every process (each Daphne, HAProxy, Redis, PostgreSQL, this load generator)
and Redis's commands per second.

Setup (database, migrations, seeding the rooms, minting JWTs) is timed apart and not in the
figures; every run reuses the same rooms, reset first (Redis db flushed, visits confirmed
again). Everything runs on this machine: client, server, Redis and PostgreSQL share its cores,
so the CPU columns (percent of one core, summed over processes) show who was busy, and
"machine busy before" shows other work (--wait-quiet waits for it to stop).
Results: tables on stdout and bench/results/signaling-<timestamp>.json; bench/README.md.
"""

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tests import live_seed
from tests.live_cluster import LiveCluster
from tests.live_server import (
    LiveServer,
    ServerDidNotStart,
    accepts_connections,
    manage,
    process_cpu_seconds,
    production_environment,
)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432"
REDIS_BASE_URL = "redis://127.0.0.1:6379"
REDIS_DB = 12  # dedicated to this benchmark (--redis-db): flushed before every Daphne run

DEFAULT_ROOMS = (50, 200, 500)
QUICK_ROOMS = (20,)
ROUNDS = 40  # K: signal frames each side sends per pair (2K relayed per pair)
MAX_EXCHANGE_SECONDS = 30.0  # no new round after this; a slow server must not take an hour
PACE_MS = 25.0  # at most 40 frames/s per connection; the room allows 50/s, bursts of 100
# The relays that measure what the app costs beyond them (never behind HAProxy): the bare
# `websockets` floor, and the design's floor (Daphne + Channels + channels-redis, no app).
RELAYS = ("floor", "channels")
SERVERS = ("daphne", *RELAYS)
JOIN_CONCURRENCY = 25  # WebSocket handshakes in flight; Daphne listens with a backlog of 50
WARMUP_ROUNDS = 10
WAIT_SECONDS = 30.0  # the longest any single expected frame may take before it is an error
LATE_FRAME_SECONDS = 15.0  # how long past the exchange cap a frame may still arrive
KEEPALIVE_SECONDS = 10.0  # app-level ping when a socket was quiet this long (silence: 30 s)
SETTLE_SECONDS = 1.0

# A host ICE candidate, as browsers trickle them: the typical small signal frame.
CANDIDATE = {
    "candidate": (
        "candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 10.0.0.5 "
        "rport 46154 generation 0 ufrag sXd8 network-cost 999"
    ),
    "sdpMid": "0",
    "sdpMLineIndex": 0,
}


# The last line of a traceback: "redis.exceptions.MaxConnectionsError: Too many connections".
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Full|Closed|Timeout)\w*(: |$)")


class BenchError(Exception):
    """Something broke the run itself (not a measured error): stop and clean up."""


class Refused(BenchError):
    """The server answered the frame this side waited for with an `error` frame."""


REFUSED = {"type": "refused"}  # put in the partner's queue when the server refused a frame


# --- Processes: PostgreSQL database, Redis db, servers ----------------------------------------


def psycopg_connect(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True)


def _proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


def _postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL process on this machine (the server and its backends; our
    database's backends are most of it while the bench runs, but not all: it is shared), with
    what the backends that exited meanwhile spent (the postmaster's reaped children)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if (entry / "comm").read_text().strip() == "postgres":
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    ticks = sum(int(value) for value in fields[11:15])  # u, s, children u, s
                    total += ticks / os.sysconf("SC_CLK_TCK")
    return total


@dataclass
class Server:
    name: str
    processes: list[LiveServer] = field(default_factory=list)
    cluster: LiveCluster | None = None  # with --processes: HAProxy in front of `processes`

    def port_for(self, role: str) -> int:
        """Everyone through the proxy, when there is one; else the one process."""
        return self.cluster.port if self.cluster else self.processes[0].port

    def cpu_by_process(self) -> dict[str, float]:
        """Each Daphne process's CPU seconds so far, and HAProxy's when there is one."""
        if self.cluster:
            return self.cluster.cpu_seconds()
        return {p.name: process_cpu_seconds(p.pid) for p in self.processes}

    @property
    def logs(self) -> list[Path]:
        return [process.log_path for process in self.processes]

    def rss_kib(self) -> int:
        return sum(_proc_rss_kib(p.pid) for p in self.processes)

    def cpu_seconds(self) -> float:
        return sum(process_cpu_seconds(p.pid) for p in self.processes)

    def start(self, process: LiveServer) -> None:
        self.processes.append(process)
        try:
            process.start()
        except ServerDidNotStart as error:
            raise BenchError(str(error)) from None

    def check_alive(self) -> None:
        for process in self.processes:
            if not process.alive():
                raise BenchError(
                    f"{self.name} (pid {process.pid}) exited with "
                    f"{process.process.returncode}:\n{process.log_tail(30)}"
                )

    def log_problems(self) -> dict:
        """What went wrong inside the server, from its log: how many tracebacks and ERROR
        lines, and the exceptions that ended the tracebacks, counted."""
        count, exceptions = 0, Counter()
        for process in self.processes:
            for line in process.log().splitlines():
                if line.startswith("Traceback") or " ERROR " in line:
                    count += 1
                elif EXCEPTION_LINE.match(line):
                    exceptions[line[:160]] += 1
        return {"lines": count, "exceptions": dict(exceptions.most_common(10))}

    def stop(self) -> None:
        if self.cluster:
            self.cluster.stop()
        for process in self.processes:
            process.stop()


def _floor_command(port: int) -> list[str]:
    return [sys.executable, "-m", "bench.signaling_floor", "--port", str(port)]


def _channels_floor_command(port: int) -> list[str]:
    return [sys.executable, "-m", "bench.signaling_channels_floor", "--port", str(port)]


@dataclass
class Environment:
    """The bench database, Redis db and Django settings; cleans up after itself."""

    workdir: Path
    redis_db: int = REDIS_DB
    database: str = field(default_factory=lambda: f"clinicmeet_bench_signal_{os.getpid()}")
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(50))
    created_database: bool = False
    servers: list[Server] = field(default_factory=list)
    redis_base_url: str = REDIS_BASE_URL
    own_redis: LiveServer | None = None

    @property
    def database_url(self) -> str:
        return f"{POSTGRES_URL}/{self.database}"

    @property
    def redis_url(self) -> str:
        return f"{self.redis_base_url}/{self.redis_db}"

    def start_own_redis(self) -> None:
        """--own-redis: a redis-server of this run's own (no persistence), so that Redis's CPU
        and command counts are this bench's alone; the machine's Redis counts every client."""
        own = LiveServer(
            dict(os.environ),
            self.workdir / "redis.log",
            command=lambda port: [
                *(shutil.which("redis-server") or "redis-server", "--port", str(port)),
                *("--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
                *("--dir", str(self.workdir)),
            ],
            ready=accepts_connections,
            name="redis",
        )
        try:
            own.start()
        except ServerDidNotStart as error:
            raise BenchError(str(error)) from None
        self.own_redis = own
        self.redis_base_url = f"redis://127.0.0.1:{own.port}"

    def django_env(self) -> dict[str, str]:
        return production_environment(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            SECRET_KEY=self.secret_key,  # one key: the seed mints the JWTs
            ALLOWED_HOSTS="127.0.0.1",
            JWT_ACCESS_MINUTES="120",  # the tokens are minted at setup; outlive the whole run
        )

    def _admin(self):
        return psycopg_connect(f"{POSTGRES_URL}/postgres")

    def create_database(self) -> None:
        from psycopg import sql

        with self._admin() as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
        self.created_database = True

    def drop_database(self) -> None:
        from psycopg import sql

        if self.created_database:
            with self._admin() as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(self.database)
                    )
                )
            self.created_database = False

    def postgres_connections(self) -> int:
        """How many connections our database has now, this query's own left out."""
        with psycopg_connect(self.database_url) as connection:
            return connection.execute(
                "SELECT count(*) - 1 FROM pg_stat_activity WHERE datname = current_database()"
            ).fetchone()[0]

    def reset_rooms(self) -> None:
        """Every room as seeded: nobody in it (Redis), every visit confirmed again (the runs
        before checked them in and started them), no chat."""
        from psycopg import sql

        self.flush_redis()
        with psycopg_connect(self.database_url) as connection:
            connection.execute(sql.SQL("DELETE FROM rooms_chatmessage"))
            connection.execute(
                sql.SQL("UPDATE visits_appointment SET status = {}").format(
                    sql.Literal("confirmed")
                )
            )

    def redis(self):
        import redis

        return redis.Redis.from_url(self.redis_url)

    def flush_redis(self) -> None:
        with self.redis() as client:
            client.flushdb()

    def migrate(self) -> None:
        manage(self.django_env(), "migrate", "--noinput", "-v", "0")

    def seed(self, count: int) -> list[dict]:
        """`count` rooms, each a confirmed visit starting in 5 minutes with a doctor and a
        patient of its own (tests/live_seed.py): [{room, doctor, patient}], JWT access tokens."""
        made = live_seed.seed(self.django_env(), visits=count, prefix="bench-signal")
        return [
            {
                "room": visit["room_id"],
                "doctor": visit["doctor"]["token"],
                "patient": visit["patient"]["token"],
            }
            for visit in made["visits"]
        ]

    def _log(self, name: str) -> Path:
        return self.workdir / f"{name}-{len(self.servers)}.log"

    def start_daphne(self) -> Server:
        """One Daphne process, connected to directly."""
        server = Server("daphne")
        self.servers.append(server)
        server.start(LiveServer(self.django_env(), self._log("daphne"), name="daphne-0"))
        return server

    def start_cluster(self, processes: int) -> Server:
        """`processes` Daphne processes behind HAProxy (tests/live_cluster.py)."""
        folder = self.workdir / f"cluster-{len(self.servers)}"
        folder.mkdir()
        cluster = LiveCluster(self.django_env(), folder, processes)
        server = Server(f"proxy+{processes}", list(cluster.servers), cluster)
        self.servers.append(server)
        try:
            cluster.start()
        except ServerDidNotStart as error:
            raise BenchError(str(error)) from None
        return server

    def start_floor(self) -> Server:
        return self._start_relay("floor", _floor_command, {})

    def start_channels_floor(self) -> Server:
        """The design's floor: the bare relay as a Channels consumer on Daphne, relaying
        through channels-redis on this run's Redis db."""
        return self._start_relay("channels", _channels_floor_command, {"REDIS_URL": self.redis_url})

    def _start_relay(self, name: str, command, extra_env: dict) -> Server:
        server = Server(name)
        self.servers.append(server)
        relay = LiveServer(
            {**os.environ, "PYTHONUNBUFFERED": "1", **extra_env},
            self._log(name),
            command=command,
            ready=accepts_connections,
            name=name,
        )
        server.start(relay)
        return server

    def cleanup(self) -> None:
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.stop()
        with contextlib.suppress(Exception):
            self.flush_redis()
        if self.own_redis is not None:
            self.own_redis.stop()
        try:
            self.drop_database()
        except Exception as error:
            print(f"! could not drop database {self.database}: {error}", file=sys.stderr)


# --- The load generator -----------------------------------------------------------------------


def _now_ns() -> int:
    return time.perf_counter_ns()


class Peer:
    """One participant's socket: a reader task sorts incoming frames, latencies are noted as
    they arrive (not when the pair's coroutine gets round to them)."""

    def __init__(self, run: "Run", role: str, room: str, token: str, port: int) -> None:
        self.run = run
        self.role = role
        self.url = f"ws://127.0.0.1:{port}/ws/rooms/{room}/?token={token}&role={role}"
        self.origin = f"http://127.0.0.1:{port}"
        self.participant_id: str | None = None
        self.partner: Peer | None = None
        self.states: asyncio.Queue = asyncio.Queue()
        self.signals: asyncio.Queue = asyncio.Queue()
        self.connection = None
        self.closing = False
        self.last_send = 0.0
        self.tasks: list[asyncio.Task] = []

    async def join(self) -> float:
        """Connect; return the join latency in ms (connect start -> first room.state)."""
        from websockets.asyncio.client import connect

        started = _now_ns()
        self.connection = await connect(
            self.url,
            origin=self.origin,
            compression=None,
            open_timeout=WAIT_SECONDS,
            ping_interval=None,  # the servers ping; the client answers
            close_timeout=5,
        )
        self.last_send = time.monotonic()
        self.tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._keepalive())]
        state = await self.next_state()
        elapsed = (_now_ns() - started) / 1e6
        self.participant_id = state["you"]["participant_id"]
        expected = "admitted" if self.role == "doctor" else "waiting"
        if state["you"]["status"] != expected:
            raise BenchError(f"{self.role} joined as {state['you']['status']!r}")
        return elapsed

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for message in self.connection:
                arrived = _now_ns()
                frame = json.loads(message)
                kind = frame.get("type")
                if kind == "signal":
                    self.run.relay_ms.append((arrived - frame["data"]["t"]) / 1e6)
                    self.signals.put_nowait(frame)
                elif kind == "room.state":
                    self.states.put_nowait(frame)
                elif kind == "error":
                    # The server refused what this side sent (an admit, a signal): the partner
                    # waiting for its result hears at once instead of timing out.
                    self.run.error(f"{self.role} got {message[:200]}")
                    if self.partner is not None:
                        waiting = (
                            self.partner.signals if self.run.exchanging else self.partner.states
                        )
                        waiting.put_nowait(REFUSED)
                elif kind != "pong":
                    self.run.error(f"{self.role} got {message[:200]}")
                    break  # room.closed and the like: the socket is going
        except ConnectionClosed as closed:
            if not self.closing:
                self.run.error(f"{self.role} socket closed: {closed}")
        finally:
            if not self.closing:
                self.states.put_nowait(None)
                self.signals.put_nowait(None)

    async def _keepalive(self) -> None:
        """Ping like a browser would while idle (before and after the exchange), so that the
        server's 30 s silence rule never drops a socket that is waiting for its turn."""
        while not self.closing:
            await asyncio.sleep(KEEPALIVE_SECONDS / 4)
            if time.monotonic() - self.last_send >= KEEPALIVE_SECONDS and not self.closing:
                await self.send({"type": "ping"})

    async def send(self, frame: dict) -> None:
        self.last_send = time.monotonic()
        await self.connection.send(json.dumps(frame))

    async def _next(self, queue: asyncio.Queue, what: str, timeout: float = WAIT_SECONDS) -> dict:
        try:
            frame = await asyncio.wait_for(queue.get(), timeout)
        except TimeoutError:
            raise BenchError(f"{self.role}: no {what} within {timeout:.0f}s") from None
        if frame is None:
            raise BenchError(f"{self.role}: socket gone while waiting for {what}")
        if frame is REFUSED:
            raise Refused(f"{self.role}: the {what} it waited for was refused by the server")
        return frame

    async def next_state(self, status: str | None = None) -> dict:
        while True:
            state = await self._next(self.states, "room.state")
            if status is None or state["you"]["status"] == status:
                return state

    async def next_signal(self, timeout: float = WAIT_SECONDS) -> dict:
        return await self._next(self.signals, "signal", timeout)

    async def close(self) -> None:
        self.closing = True
        for task in self.tasks:
            task.cancel()
        if self.connection is not None:
            with contextlib.suppress(Exception):
                await self.connection.close()


async def _send_signal(peer: Peer, to: str, seq: int) -> None:
    data = {**CANDIDATE, "seq": seq, "t": _now_ns()}
    peer.run.sent += 1
    await peer.send({"type": "signal", "to": to, "data": data})


@dataclass
class Pair:
    doctor: Peer
    patient: Peer
    ok: bool = True

    def __post_init__(self) -> None:
        self.doctor.partner, self.patient.partner = self.patient, self.doctor


class Run:
    """One server at one N: collects latencies and errors."""

    def __init__(self) -> None:
        self.relay_ms: list[float] = []
        self.errors: list[str] = []
        self.sent = 0
        self.refused = 0  # signal frames the server answered with an error frame
        self.capped = 0  # pairs stopped by the time cap before K rounds
        self.exchanging = False

    def error(self, message: str) -> None:
        self.errors.append(message)


def _error_kind(message: str) -> str:
    """An error without what varies between sockets (ids, counts), for counting alike ones."""
    return re.sub(r"\d+ of \d+", "N of M", re.sub(r'"participant_id": "[^"]*"', "", message))[:120]


def _summary(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    if len(ordered) == 1:
        p50 = p99 = ordered[0]
    else:
        cuts = statistics.quantiles(ordered, n=100, method="inclusive")
        p50, p99 = cuts[49], cuts[98]
    return {
        "count": len(ordered),
        "p50": round(p50, 3),
        "p99": round(p99, 3),
        "mean": round(statistics.fmean(ordered), 3),
        "max": round(ordered[-1], 3),
    }


async def _limited(calls, limit: int, run: Run, what: str) -> list:
    """Run the coroutine factories at most `limit` at a time; failures become errors."""
    gate = asyncio.Semaphore(limit)

    async def one(call):
        async with gate:
            try:
                return await call()
            except Exception as error:
                run.error(f"{what}: {type(error).__name__}: {error}"[:300])
                return None

    return await asyncio.gather(*(one(call) for call in calls))


async def _exchange(
    pair: Pair, rounds: int, pace: float, offset: float, deadline: float = math.inf
) -> None:
    """K rounds of ping-pong; each side sends at most one frame per `pace` seconds. No new
    round starts after `deadline` (loop time): a server slower than planned costs minutes."""
    loop = asyncio.get_running_loop()
    doctor, patient = pair.doctor, pair.patient
    await asyncio.sleep(offset)  # spread the pairs over one pace interval
    for seq in range(rounds):
        if loop.time() >= deadline:
            doctor.run.capped += 1
            return
        due = loop.time() + pace
        # A frame lost on the way is an error; waiting for it ends a little after the cap.
        wait = min(WAIT_SECONDS, max(deadline - loop.time(), 0) + LATE_FRAME_SECONDS)
        try:
            await _send_signal(doctor, patient.participant_id, seq)
            await patient.next_signal(wait)
            await _send_signal(patient, doctor.participant_id, seq)
            await doctor.next_signal(wait)
        except Refused:
            doctor.run.refused += 1  # counted as an error already; on to the next round
        if (delay := due - loop.time()) > 0:
            await asyncio.sleep(delay)


def _machine_busy_seconds() -> float:
    """CPU time all cores spent on anything but idle and I/O wait, from /proc/stat."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # user..steal; guest is in user


def _redis_counters(env: Environment) -> dict:
    """Redis's command counters (INFO stats and commandstats): the whole server's, every db."""
    with env.redis() as client:
        return {
            "total": int(client.info("stats")["total_commands_processed"]),
            "calls": {
                name.removeprefix("cmdstat_"): int(stat["calls"])
                for name, stat in client.info("commandstats").items()
            },
        }


def _redis_delta(before: dict, after: dict, top: int = 6) -> dict:
    calls = Counter({name: n - before["calls"].get(name, 0) for name, n in after["calls"].items()})
    return {"total": after["total"] - before["total"], "top": dict(calls.most_common(top))}


def _redis_pid_and_memory(env: Environment) -> tuple[int, int]:
    with env.redis() as client:
        return int(client.info("server")["process_id"]), int(client.info("memory")["used_memory"])


async def _warm_up(server: Server, room: dict) -> None:
    """One room through every step, so imports, caches and connection pools are in place
    before the baseline memory reading."""
    run = Run()
    doctor = Peer(run, "doctor", room["room"], room["doctor"], server.port_for("doctor"))
    patient = Peer(run, "patient", room["room"], room["patient"], server.port_for("patient"))
    try:
        await doctor.join()
        await patient.join()
        await doctor.send({"type": "admit", "participant_id": patient.participant_id})
        await patient.next_state("admitted")
        await _exchange(Pair(doctor, patient), WARMUP_ROUNDS, 0.0, 0.0)
    finally:
        await patient.close()
        await doctor.close()
    if run.errors:
        raise BenchError(f"warm-up failed on {server.name}: {run.errors[:3]}")


async def drive(server: Server, env: Environment, rooms: list[dict], warmup: dict, options) -> dict:
    """The measured run of one server with len(rooms) rooms."""
    count = len(rooms)
    pace = options.pace_ms / 1000
    run = Run()
    phases, began = {}, time.perf_counter()
    await _warm_up(server, warmup)
    phases["warm_up"] = time.perf_counter() - began
    await asyncio.sleep(SETTLE_SECONDS)
    rss_before = server.rss_kib()
    redis_pid, redis_before = _redis_pid_and_memory(env)

    pairs = [
        Pair(
            Peer(run, "doctor", r["room"], r["doctor"], server.port_for("doctor")),
            Peer(run, "patient", r["room"], r["patient"], server.port_for("patient")),
        )
        for r in rooms
    ]
    try:
        # Join: all doctors, then all patients.
        started, join_cpu = time.perf_counter(), server.cpu_seconds()
        doctor_ms = await _limited(
            [p.doctor.join for p in pairs], options.join_concurrency, run, "doctor join"
        )
        patient_ms = await _limited(
            [p.patient.join for p in pairs], options.join_concurrency, run, "patient join"
        )
        join_seconds = phases["join"] = time.perf_counter() - started
        join_cpu = server.cpu_seconds() - join_cpu
        for pair, d_ms, p_ms in zip(pairs, doctor_ms, patient_ms, strict=True):
            pair.ok = d_ms is not None and p_ms is not None

        # Admission: each doctor lets its patient in (as many at a time as joins).
        async def admit(pair: Pair) -> float:
            sent = _now_ns()
            await pair.doctor.send({"type": "admit", "participant_id": pair.patient.participant_id})
            await pair.patient.next_state("admitted")
            return (_now_ns() - sent) / 1e6

        admitting = [p for p in pairs if p.ok]
        started = time.perf_counter()
        admit_ms = await _limited(
            [lambda p=p: admit(p) for p in admitting], options.join_concurrency, run, "admit"
        )
        phases["admit"] = time.perf_counter() - started
        for pair, ms in zip(admitting, admit_ms, strict=True):
            pair.ok = ms is not None
        await asyncio.sleep(SETTLE_SECONDS)
        server.check_alive()
        rss_connected = server.rss_kib()
        _, redis_connected = _redis_pid_and_memory(env)

        # Exchange: K rounds of signal ping-pong in every room at once.
        ready = [p for p in pairs if p.ok]
        run.relay_ms.clear()
        run.sent, run.exchanging = 0, True
        cpu_server, cpu_redis = server.cpu_seconds(), process_cpu_seconds(redis_pid)
        cpu_client, cpu_machine = time.process_time(), _machine_busy_seconds()
        cpu_processes, cpu_postgres = server.cpu_by_process(), _postgres_cpu_seconds()
        redis_counters_before = _redis_counters(env)
        started = time.perf_counter()
        deadline = asyncio.get_running_loop().time() + options.max_exchange_seconds
        await _limited(
            [
                lambda p=p, i=i: _exchange(p, options.rounds, pace, pace * i / len(ready), deadline)
                for i, p in enumerate(ready)
            ],
            len(ready) or 1,
            run,
            "exchange",
        )
        exchange_seconds = phases["exchange"] = time.perf_counter() - started
        cpu = {
            "server": server.cpu_seconds() - cpu_server,
            "redis": process_cpu_seconds(redis_pid) - cpu_redis,
            "client": time.process_time() - cpu_client,
        }
        by_process = {
            name: seconds - cpu_processes[name] for name, seconds in server.cpu_by_process().items()
        }
        postgres = _postgres_cpu_seconds() - cpu_postgres
        redis_counted = _redis_delta(redis_counters_before, _redis_counters(env))
        # Everything else the machine did meanwhile (PostgreSQL, HAProxy, anything not ours).
        cpu["others"] = max(0.0, _machine_busy_seconds() - cpu_machine - sum(cpu.values()))
        connections_held = server.cluster.connections() if server.cluster else {}
        postgres_connections = env.postgres_connections()
        frames, sent = len(run.relay_ms), run.sent
        server.check_alive()
        rss_after = server.rss_kib()
    finally:
        started = time.perf_counter()
        peers = [peer for pair in pairs for peer in (pair.patient, pair.doctor)]
        await _limited([peer.close for peer in peers], 100, run, "close")
        phases["close"] = time.perf_counter() - started

    lost = sent - frames - run.refused
    if lost > 0:
        run.error(f"{lost} of {sent} signal frames sent never arrived")
    elif lost < 0:  # e.g. channels-redis failed after it had queued the message
        run.error(f"{-lost} signal frames arrived although the server answered them with an error")
    if len(ready) < count:
        run.error(f"{count - len(ready)} of {count} rooms never got to signaling")
    return {
        "server": server.name,
        "processes": len(server.processes),
        "through_haproxy": server.cluster is not None,
        "rooms": count,
        "connections": 2 * count,
        "join_ms": _summary([ms for ms in doctor_ms + patient_ms if ms is not None]),
        "join_doctor_ms": _summary([ms for ms in doctor_ms if ms is not None]),
        "join_patient_ms": _summary([ms for ms in patient_ms if ms is not None]),
        "joins_per_s": round(2 * count / join_seconds, 1),
        "server_cpu_ms_per_join": round(1000 * join_cpu / (2 * count), 2),
        "admit_ms": _summary([ms for ms in admit_ms if ms is not None]),
        "relay_ms": _summary(run.relay_ms),
        "frames": frames,
        "frames_refused": run.refused,
        "rounds_planned_per_room": options.rounds,
        "rooms_stopped_by_time_cap": run.capped,
        "exchange_s": round(exchange_seconds, 3),
        "phases_s": {name: round(seconds, 2) for name, seconds in phases.items()},
        "frames_per_s": round(frames / exchange_seconds, 1),
        "offered_frames_per_s": round(2 * len(ready) / pace, 1),
        "cpu_percent": {k: round(100 * v / exchange_seconds, 1) for k, v in cpu.items()},
        # Per process during the exchange: each Daphne, HAProxy (with --processes), PostgreSQL.
        "cpu_percent_by_process": {
            **{k: round(100 * v / exchange_seconds, 1) for k, v in by_process.items()},
            "postgres": round(100 * postgres / exchange_seconds, 1),
        },
        "connections_by_process": connections_held,
        # Our database's connections at the end of the exchange (each process's pool).
        "postgres_connections": postgres_connections,
        "redis_commands_per_s": round(redis_counted["total"] / exchange_seconds, 1),
        "redis_commands_per_frame": (round(redis_counted["total"] / frames, 2) if frames else None),
        "redis_top_commands_per_s": {
            name: round(calls / exchange_seconds, 1) for name, calls in redis_counted["top"].items()
        },
        # Less sensitive to other work on the machine than latency: what one frame costs.
        "server_cpu_ms_per_frame": round(1000 * cpu["server"] / frames, 3) if frames else None,
        "redis_cpu_ms_per_frame": round(1000 * cpu["redis"] / frames, 3) if frames else None,
        "rss_kib": {"before": rss_before, "connected": rss_connected, "after": rss_after},
        "kib_per_connection": round((rss_connected - rss_before) / (2 * count), 1),
        "redis_bytes_per_connection": (
            round((redis_connected - redis_before) / (2 * count)) if server.name != "floor" else 0
        ),
        "errors": len(run.errors),
        "error_kinds": dict(Counter(_error_kind(e) for e in run.errors).most_common(10)),
        "error_samples": run.errors[:10],
        "server_log_problems": server.log_problems(),
    }


# --- Report -----------------------------------------------------------------------------------


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.1f}x" if a is not None and b else "-"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _print_scale_out(results: list[dict], meta: dict) -> None:
    """--processes: per process CPU, Redis's commands, and x N / x first, per room count."""
    scaled = [r for r in results if r["server"].startswith("proxy+")]
    if not scaled:
        return
    print()
    whose = (
        "this run's own redis-server"
        if meta["own_redis"]
        else "the machine's Redis, every client of it (--own-redis: the bench's alone)"
    )
    print(
        "Through HAProxy (leastconn): CPU in % of one core during the exchange, per process; "
        f"Redis commands/s of {whose}"
    )
    head = (
        f"{'N':>4} {'server':<9} {'Daphne each':>15} {'haproxy':>7} {'redis':>5} "
        f"{'postgres':>8} {'client':>6} {'other':>5} {'redis cmd/s':>11} {'cmd/frame':>9} "
        f"{'sockets per process':>19} {'PG conns':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in scaled:
        by, cpu = r["cpu_percent_by_process"], r["cpu_percent"]
        daphnes = "/".join(f"{v:.0f}" for k, v in by.items() if k.startswith("daphne"))
        sockets = "/".join(str(v) for v in r["connections_by_process"].values())
        print(
            f"{r['rooms']:>4} {r['server']:<9} {daphnes:>15} {by.get('haproxy', 0):>7.0f} "
            f"{cpu['redis']:>5.0f} {by['postgres']:>8.0f} {cpu['client']:>6.0f} "
            f"{max(cpu['others'] - by.get('haproxy', 0) - by['postgres'], 0):>5.0f} "
            f"{r['redis_commands_per_s']:>11.0f} {_ms(r['redis_commands_per_frame']):>9} "
            f"{sockets:>19} {r['postgres_connections']:>8}"
        )
    print(
        "postgres = every PostgreSQL process on the machine; other = the rest of the machine "
        "(not ours: other work, the kernel's share not charged to a process)"
    )
    by_rooms: dict[int, list[dict]] = {}
    for r in scaled:
        by_rooms.setdefault(r["rooms"], []).append(r)
    print()
    head = (
        f"{'N':>4} {'ratio':<18} {'frames/s':>8} {'relay p50':>9} {'relay p99':>9} "
        f"{'join p50':>8} {'Daphne CPU/frame':>16}"
    )
    print(head)
    print("-" * len(head))
    for rooms, runs in by_rooms.items():
        # Against the latest run of the first process count before it: with --processes
        # 1,2,1,2 each x2 is compared with the x1 just before it, and the second x1 with the
        # first shows how much the machine's other work moved the figures meanwhile.
        latest_base = runs[0]
        for r in runs[1:]:
            base_now = latest_base
            if r["processes"] == runs[0]["processes"]:
                latest_base = r
            print(
                f"{rooms:>4} {r['server'] + ' / ' + base_now['server']:<18} "
                f"{_ratio(r['frames_per_s'], base_now['frames_per_s']):>8} "
                f"{_ratio(r['relay_ms'].get('p50'), base_now['relay_ms'].get('p50')):>9} "
                f"{_ratio(r['relay_ms'].get('p99'), base_now['relay_ms'].get('p99')):>9} "
                f"{_ratio(r['join_ms'].get('p50'), base_now['join_ms'].get('p50')):>8} "
                f"{_ratio(r['server_cpu_ms_per_frame'], base_now['server_cpu_ms_per_frame']):>16}"
            )
    busiest = max(scaled, key=lambda r: r["cpu_percent"]["client"])
    print(
        f"! the load generator is this one Python process: it took up to "
        f"{busiest['cpu_percent']['client']:.0f}% of one core ({busiest['server']}, "
        f"N={busiest['rooms']}), on a machine of {meta['cpus']} cores that also runs every "
        "Daphne process, HAProxy, Redis and PostgreSQL: more processes compete with it for "
        "the same cores, so frames/s x2 / x1 is a lower bound of what a second machine adds"
    )


def _print_ratios(results: list[dict], base: str, title: str) -> None:
    """Each run against the `base` server's run of the same N."""
    floors = {r["rooms"]: r for r in results if r["server"] == base}
    compared = [r for r in results if r["server"] != base and r["rooms"] in floors]
    if compared:
        print()
        print(f"ratios {title}")
        head = (
            f"{'N':>4} {'server':<9} {'relay p50':>9} {'relay p99':>9} {'frames/s':>8} "
            f"{'join p50':>8} {'CPU/frame':>9} {'KiB/conn':>16}"
        )
        print(head)
        print("-" * len(head))
        for r in compared:
            f = floors[r["rooms"]]
            memory = f"{r['kib_per_connection']:.1f} vs {f['kib_per_connection']:.1f}"
            print(
                f"{r['rooms']:>4} {r['server']:<9} "
                f"{_ratio(r['relay_ms'].get('p50'), f['relay_ms'].get('p50')):>9} "
                f"{_ratio(r['relay_ms'].get('p99'), f['relay_ms'].get('p99')):>9} "
                f"{_ratio(r['frames_per_s'], f['frames_per_s']):>8} "
                f"{_ratio(r['join_ms'].get('p50'), f['join_ms'].get('p50')):>8} "
                f"{_ratio(r['server_cpu_ms_per_frame'], f['server_cpu_ms_per_frame']):>9} "
                f"{memory:>16}"
            )


def print_report(results: list[dict], meta: dict) -> None:
    print()
    print(
        f"Signaling: {meta['rounds']} rounds of signal ping-pong per room "
        f"({2 * meta['rounds']} frames relayed per room), <= 1 frame per "
        f"{meta['pace_ms']:g} ms per connection, joins {meta['join_concurrency']} at a time."
    )
    print(
        "daphne = one Daphne process, channels-redis, Redis room state, PostgreSQL; channels = the "
        "bare relay as a Channels consumer on Daphne and channels-redis; floor = a bare "
        f"`websockets` relay. Client, servers, Redis, PostgreSQL share {meta['cpus']} cores."
    )
    head = (
        f"{'N':>4} {'server':<9} {'join p50':>8} {'p99':>7} {'joins/s':>7} {'admit p50':>9} "
        f"{'relay p50':>9} {'p99':>7} {'frames/s':>8} {'offered':>7} {'CPU ms/frame':>12} "
        f"{'errors':>6}"
    )
    print()
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r['rooms']:>4} {r['server']:<9} {_ms(r['join_ms']['p50']):>8} "
            f"{_ms(r['join_ms']['p99']):>7} {r['joins_per_s']:>7.0f} "
            f"{_ms(r['admit_ms'].get('p50')):>9} "
            f"{_ms(r['relay_ms'].get('p50')):>9} {_ms(r['relay_ms'].get('p99')):>7} "
            f"{r['frames_per_s']:>8.0f} {r['offered_frames_per_s']:>7.0f} "
            f"{_ms(r['server_cpu_ms_per_frame']):>12} {r['errors']:>6}"
        )
    print(
        "latencies in ms; offered = the most the paced pairs could ask for (2N x 1000/pace); "
        "CPU ms/frame = server CPU time / frames relayed"
    )
    head = (
        f"{'N':>4} {'server':<9} {'RSS MiB':>13} {'KiB/conn':>8} "
        f"{'CPU % server/redis/client/other':>31} {'machine busy before':>19}"
    )
    print()
    print(head)
    print("-" * len(head))
    for r in results:
        rss, cpu = r["rss_kib"], r["cpu_percent"]
        shares = f"{cpu['server']:.0f}/{cpu['redis']:.0f}/{cpu['client']:.0f}/{cpu['others']:.0f}"
        growth = f"{rss['before'] / 1024:.0f} -> {rss['connected'] / 1024:.0f}"
        print(
            f"{r['rooms']:>4} {r['server']:<9} {growth:>13} "
            f"{r['kib_per_connection']:>8.1f} {shares:>31} "
            f"{r['machine_busy_percent_before']:>18.0f}%"
        )
    print(
        "RSS before the first socket (after a warm-up room) -> all 2N connected and admitted; "
        "KiB/conn = growth / 2N. CPU in % of one core during the exchange; other = PostgreSQL "
        "and anything else running on the machine."
    )

    _print_scale_out(results, meta)

    _print_ratios(results, "floor", "over the bare `websockets` floor")
    _print_ratios(
        [r for r in results if r["server"] != "floor"],
        "channels",
        "the app over the design's floor (Daphne + Channels + channels-redis, no app)",
    )
    for r in results:
        if r["rooms_stopped_by_time_cap"]:
            print(
                f"! {r['server']} N={r['rooms']}: {r['rooms_stopped_by_time_cap']} rooms stopped "
                f"by the {meta['max_exchange_seconds']:g} s cap before {meta['rounds']} rounds"
            )
    busy = [r for r in results if r["machine_busy_percent_before"] > 50]
    if busy:
        print(
            f"! other work kept the machine busy before {len(busy)} of {len(results)} runs "
            "(see 'machine busy before', % of one core): it skews latency and throughput most"
        )
    for r in results:
        if r["errors"]:
            print(f"! {r['server']} N={r['rooms']}: {r['errors']} errors:")
            for kind, times in list(r["error_kinds"].items())[:5]:
                print(f"    {times:>5} x {kind}")
        problems = r["server_log_problems"]
        if problems["lines"]:
            print(f"! {r['server']} N={r['rooms']}: {problems['lines']} tracebacks/ERROR lines:")
            for line, times in problems["exceptions"].items():
                print(f"    {times:>5} x {line}")


# --- Main -------------------------------------------------------------------------------------


def _raise_open_files(connections: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 4 * connections + 1024))
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))  # children inherit it
    if wanted < 2 * connections + 256:
        raise BenchError(f"open-files limit {hard} is too low for {connections} sockets")
    return wanted


def _versions() -> dict:
    from importlib.metadata import version

    names = ("django", "channels", "channels-redis", "daphne", "twisted", "websockets", "redis")
    return {name: version(name) for name in names}


def _keep_logs(server: Server, stamp: str, count: int) -> list[str]:
    """A server that logged errors: copy its logs beside the results, for a look later."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    kept = []
    for index, log in enumerate(server.logs):
        name = server.name.replace(" ", "")
        target = RESULTS / f"signaling-{stamp}-{name}-N{count}-{index}.log"
        shutil.copyfile(log, target)
        kept.append(str(target.relative_to(REPO)))
    return kept


def _machine_busy_percent(seconds: float = 2.0) -> float:
    before = _machine_busy_seconds()
    time.sleep(seconds)
    return 100 * (_machine_busy_seconds() - before) / seconds


def _wait_quiet(limit_seconds: float, quiet_percent: float = 30.0) -> float:
    """Wait (at most `limit_seconds`) for the machine to be quiet, i.e. no more than
    `quiet_percent` of one core busy over 2 s; return the last reading."""
    deadline = time.monotonic() + limit_seconds
    busy = _machine_busy_percent()
    while busy > quiet_percent and time.monotonic() < deadline:
        busy = _machine_busy_percent()
    return busy


def main(options) -> int:
    sizes = QUICK_ROOMS if options.quick else options.rooms
    # None: one Daphne process connected to directly (and the floor); a count: that many
    # processes behind HAProxy.
    variants = list(options.processes) if options.processes else [None]
    busy_before, load_before = _machine_busy_percent(), os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores, {busy_before:.0f}% of one core busy before the run, "
        f"load average {load_before[0]:.1f}",
        flush=True,
    )
    began = time.perf_counter()
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    _raise_open_files(2 * max(sizes))
    needed = max(sizes) + 1  # +1: the warm-up room; every run reuses the rooms, reset first
    workdir = Path(tempfile.mkdtemp(prefix="clinicmeet-signaling-"))
    env = Environment(workdir, redis_db=options.redis_db)
    results, setup = [], {}

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        started = time.perf_counter()
        if options.own_redis:
            env.start_own_redis()
        env.create_database()
        env.migrate()
        setup["create_and_migrate_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        rooms = env.seed(needed)
        setup["seed_s"] = round(time.perf_counter() - started, 2)
        setup["seeded_rooms"] = needed
        print(
            f"setup: database {env.database} migrated in {setup['create_and_migrate_s']} s; "
            f"{needed} rooms ({2 * needed} users, JWTs) seeded in {setup['seed_s']} s",
            flush=True,
        )
        for count in sizes:
            for processes in variants:
                warmup, chosen = rooms[0], rooms[1 : count + 1]
                for kind in options.servers:
                    if kind in RELAYS and processes is not None:
                        continue
                    busy = _wait_quiet(options.wait_quiet)
                    env.reset_rooms()
                    if kind == "floor":
                        server = env.start_floor()
                    elif kind == "channels":
                        server = env.start_channels_floor()
                    elif processes is None:
                        server = env.start_daphne()
                    else:
                        server = env.start_cluster(processes)
                    print(f"N={count}: {server.name} ...", end=" ", flush=True)
                    started = time.perf_counter()
                    try:
                        result = asyncio.run(drive(server, env, chosen, warmup, options))
                    finally:
                        server.stop()
                        if server.log_problems()["lines"]:
                            kept = _keep_logs(server, stamp, count)
                    result["run_s"] = round(time.perf_counter() - started, 1)
                    # Again after the stop: the server handles the last disconnects after ours.
                    result["server_log_problems"] = server.log_problems()
                    result["machine_busy_percent_before"] = round(busy, 1)
                    if result["server_log_problems"]["lines"]:
                        result["server_logs_kept"] = kept
                    results.append(result)
                    print(
                        f"{result['run_s']} s, relay p50 {result['relay_ms']['p50']} ms, "
                        f"{result['frames_per_s']:.0f} frames/s, {result['errors']} errors",
                        flush=True,
                    )
    except BenchError as error:
        print(f"\nbenchmark failed: {error}", file=sys.stderr)
        return 1
    finally:
        env.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)

    total = round(time.perf_counter() - began, 1)
    meta = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "rooms": list(sizes),
        "rounds": options.rounds,
        "pace_ms": options.pace_ms,
        "join_concurrency": options.join_concurrency,
        "max_exchange_seconds": options.max_exchange_seconds,
        "cpus": os.cpu_count(),
        "machine_busy_percent_before": round(busy_before, 1),
        "load_average_before": [round(v, 2) for v in load_before],
        "python": platform.python_version(),
        "machine": platform.platform(),
        "versions": _versions(),
        "setup": setup,
        "total_s": total,
        "own_redis": bool(options.own_redis),
        "notes": (
            "Load generator in the bench process (asyncio + websockets, no compression); "
            "client and servers share the machine's cores. Relay latency is one-way, send to "
            "receive on one clock. Memory per connection is server RSS growth / 2N."
        ),
    }
    print_report(results, meta)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"signaling-{stamp}.json"
    path.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    setup_s = setup["create_and_migrate_s"] + setup["seed_s"]
    print(f"\ntotal {total} s, of which setup {setup_s:.1f} s")
    print(f"results: {path.relative_to(REPO)}")
    return 1 if any(r["errors"] for r in results) else 0


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("give room counts like 50,200") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("room counts must be positive")
    return sizes


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Visit-room signaling: Daphne + Channels vs a bare websockets relay."
    )
    parser.add_argument("--rooms", type=_sizes, default=DEFAULT_ROOMS, help="e.g. 50,200,500")
    parser.add_argument("--quick", action="store_true", help="N=20 only")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="K: frames each side sends")
    parser.add_argument("--pace-ms", type=float, default=PACE_MS, help="min gap between sends")
    parser.add_argument("--join-concurrency", type=int, default=JOIN_CONCURRENCY)
    parser.add_argument(
        "--max-exchange-seconds",
        type=float,
        default=MAX_EXCHANGE_SECONDS,
        help="no new round after this (reported when it cuts rooms short)",
    )
    parser.add_argument(
        "--processes",
        type=_sizes,
        default=(),
        help="e.g. 1,2: Daphne with that many processes behind HAProxy, in turn (no floor)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each server run, wait up to this long for other work on the machine to stop",
    )
    parser.add_argument(
        "--servers",
        type=lambda text: tuple(text.split(",")),
        default=SERVERS,
        help="daphne,channels,floor (default) or some of them",
    )
    parser.add_argument(
        "--redis-db",
        type=int,
        default=REDIS_DB,
        help=f"the Redis database the benchmark flushes and uses (default {REDIS_DB})",
    )
    parser.add_argument(
        "--own-redis",
        action="store_true",
        help="a redis-server of the run's own, so Redis CPU and commands/s are the bench's alone",
    )
    options = parser.parse_args(argv)
    if not options.servers or not set(options.servers) <= set(SERVERS):
        parser.error(f"--servers takes some of {','.join(SERVERS)}")
    if options.pace_ms < 1000 / 45:
        parser.error("--pace-ms below 22 would run into the room's 50 frames/s rate limit")
    return options


if __name__ == "__main__":
    sys.exit(main(parse_args()))
