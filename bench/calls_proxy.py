"""What our room-scoped Calls proxy adds over calling Calls directly.

    .venv/bin/python bench/calls_proxy.py            full run (about a minute)
    .venv/bin/python bench/calls_proxy.py --quick    smoke run

The local SFU (standins/calls_sfu, start_in_thread) is for Cloudflare Calls. Daphne serves the app
(`clinic.asgi:application`, SQLite in a temp dir, DEBUG off, the embedded in-process room state)
with CALLS_API_URL pointing at the SFU. A doctor joins its visit room over a WebSocket and stays
connected (the proxy serves admitted participants only). Then, for each operation at
concurrency 1 and 16, the same requests go both ways:

  proxy   /api/rooms/<room>/calls/sessions/...   (doctor's JWT; the proxy checks the room state,
                                                  then calls the SFU with the app secret)
  direct  <sfu>/apps/<app>/sessions/...          (the app secret, straight to the SFU)

Operations: `GET sessions/<sid>` (session state of a session the doctor created through the
proxy) and `POST sessions/new`. Measured requests run in four quarters, proxy, direct, direct,
proxy, after a warm-up of both. Then, below the proxy, the floors every API request pays at
concurrency 1: the room's `ice-servers` without a token (401: Daphne, middleware, DRF) and with
the JWT (+ the user's and the room's SQL). Results: a table on stdout and
bench/results/calls_proxy-<timestamp>.json. Exit status 1 when any measured request failed.
"""

import argparse
import json
import os
import platform
import secrets
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as `python bench/calls_proxy.py`
    sys.path.insert(0, str(REPO))

from tests import live_seed  # noqa: E402
from tests.live_server import (  # noqa: E402
    LiveServer,
    ServerDidNotStart,
    manage,
    process_cpu_seconds,
    production_environment,
)

RESULTS = REPO / "bench" / "results"
APP_ID = "bench-calls-app"
HTTP_TIMEOUT = 15.0
KEEPALIVE_SECONDS = 10.0
CONCURRENCIES = (1, 16)
# (operation, requests per side per concurrency): full, quick
REQUESTS = {"state": 2000, "new": 600}
QUICK_REQUESTS = {"state": 200, "new": 80}
WARMUP = 30
SESSIONS_CAP = 100_000  # more than a full run creates


class BenchError(Exception):
    """Something broke the run itself (not a measured error): stop and clean up."""


# --- Processes ---------------------------------------------------------------------------------


@dataclass
class Environment:
    workdir: Path
    sfu: object = None
    secret: str = field(default_factory=lambda: secrets.token_hex(24))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(50))
    daphne: LiveServer | None = None

    def django_env(self) -> dict[str, str]:
        return production_environment(
            SQLITE_PATH=str(self.workdir / "bench.sqlite3"),
            SECRET_KEY=self.secret_key,  # one key: the seed mints the JWT
            ALLOWED_HOSTS="127.0.0.1",
            JWT_ACCESS_MINUTES="120",
            CALLS_APP_ID=APP_ID,
            CALLS_APP_SECRET=self.secret,
            CALLS_API_URL=self.sfu.base_url,
            # Every `POST sessions/new` of the run is the doctor's: lift the cap (4) on the
            # sessions one person holds, or all but the first few are refused with 429.
            CALLS_MAX_SESSIONS_PER_PARTICIPANT=str(SESSIONS_CAP),
        )

    def start_sfu(self) -> None:
        from standins.calls_sfu.server import start_in_thread

        self.sfu = start_in_thread(app_id=APP_ID, app_secret=self.secret)

    def prepare_database(self) -> dict:
        """A doctor and a patient with a confirmed visit starting in 5 minutes (its room is
        open), through the service layer: {room, doctor (JWT access token)}."""
        env = self.django_env()
        try:
            manage(env, "migrate", "--noinput")
            (visit,) = live_seed.seed(env, visits=1, prefix="bench-calls")["visits"]
        except RuntimeError as error:
            raise BenchError(str(error)) from None
        return {"room": visit["room_id"], "doctor": visit["doctor"]["token"]}

    def start_daphne(self) -> None:
        self.daphne = LiveServer(self.django_env(), self.workdir / "daphne.log", name="daphne")
        try:
            self.daphne.start()
        except ServerDidNotStart as error:
            raise BenchError(str(error)) from None

    @property
    def base_url(self) -> str:
        return self.daphne.http_url

    @property
    def port(self) -> int:
        return self.daphne.port

    def check_alive(self) -> None:
        if self.daphne is not None and not self.daphne.alive():
            raise BenchError(
                f"daphne exited with {self.daphne.process.returncode}:\n{self.daphne.log_tail()}"
            )

    def stop(self) -> None:
        if self.daphne is not None:
            self.daphne.stop()
        if self.sfu is not None:
            self.sfu.stop()
            self.sfu = None


class Doctor(threading.Thread):
    """The doctor's WebSocket: joins (admitted), then pings every KEEPALIVE_SECONDS."""

    def __init__(self, port: int, room: str, token: str) -> None:
        super().__init__(name="doctor-ws", daemon=True)
        self.url = f"ws://127.0.0.1:{port}/ws/rooms/{room}/?token={token}&role=doctor"
        self.origin = f"http://127.0.0.1:{port}"
        self.admitted = threading.Event()
        self.stopping = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        try:
            with connect(self.url, origin=self.origin, open_timeout=20, close_timeout=5) as ws:
                last_ping = time.monotonic()
                while not self.stopping.is_set():
                    try:
                        frame = json.loads(ws.recv(timeout=1.0))
                    except TimeoutError:
                        frame = None
                    if frame and frame.get("type") == "room.state":
                        if frame["you"]["status"] == "admitted":
                            self.admitted.set()
                    elif frame and frame.get("type") not in ("pong",):
                        self.error = f"unexpected frame {str(frame)[:200]}"
                    if time.monotonic() - last_ping >= KEEPALIVE_SECONDS:
                        ws.send(json.dumps({"type": "ping"}))
                        last_ping = time.monotonic()
        except ConnectionClosed as closed:
            if not self.stopping.is_set():
                self.error = f"socket closed: {closed}"
        except Exception as error:
            self.error = f"{type(error).__name__}: {error}"
        finally:
            self.admitted.set()  # never leave the main thread waiting


# --- Measuring ---------------------------------------------------------------------------------


@dataclass
class Side:
    name: str
    method: str
    url: str
    headers: dict[str, str]
    body: dict | None
    expected_status: int | None = None  # None: any 2xx
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    def run(self, count: int, concurrency: int, sessions, record: bool = True) -> None:
        per_worker = [count // concurrency + (i < count % concurrency) for i in range(concurrency)]

        def worker(index: int) -> tuple[list[float], list[str]]:
            http = sessions[index]
            latencies, errors = [], []
            for _ in range(per_worker[index]):
                started = time.perf_counter()
                try:
                    response = http.request(
                        self.method, self.url, headers=self.headers, json=self.body,
                        timeout=HTTP_TIMEOUT,
                    )  # fmt: skip
                    response.content  # noqa: B018 - read the whole answer
                    if self.expected_status is None:
                        ok = 200 <= response.status_code < 300
                    else:
                        ok = response.status_code == self.expected_status
                    problem = None if ok else f"{response.status_code} {response.text[:200]}"
                except Exception as error:
                    problem = f"{type(error).__name__}: {error}"
                latencies.append((time.perf_counter() - started) * 1000)
                if problem:
                    errors.append(problem)
            return latencies, errors

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            results = list(pool.map(worker, range(concurrency)))
        if record:
            self.wall_seconds += time.perf_counter() - started
            for latencies, errors in results:
                self.latencies_ms += latencies
                self.errors += errors

    def summary(self) -> dict:
        ordered = sorted(self.latencies_ms)

        def rank(p: float) -> float:  # nearest rank
            return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]

        return {
            "requests": len(ordered),
            "errors": len(self.errors),
            "error_samples": sorted(set(self.errors))[:5],
            "p50_ms": round(rank(50), 3),
            "p99_ms": round(rank(99), 3),
            "mean_ms": round(sum(ordered) / len(ordered), 3),
            "req_per_s": round(len(ordered) / self.wall_seconds, 1),
        }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def measure(env: Environment, seed_data: dict, quick: bool) -> list[dict]:
    import requests

    counts = QUICK_REQUESTS if quick else REQUESTS
    room = seed_data["room"]
    proxy_headers = {"Authorization": f"Bearer {seed_data['doctor']}"}
    direct_headers = {"Authorization": f"Bearer {env.secret}"}
    proxy_base = f"{env.base_url}/api/rooms/{room}/calls/sessions"
    direct_base = f"{env.sfu.base_url}/apps/{APP_ID}/sessions"

    created = requests.post(f"{proxy_base}/new", json={}, headers=proxy_headers, timeout=15)
    if created.status_code != 201:
        raise BenchError(f"proxy sessions/new: {created.status_code} {created.text[:300]}")
    session_id = created.json()["sessionId"]

    cases = []
    for operation in ("state", "new"):
        for concurrency in CONCURRENCIES:
            if operation == "state":
                proxy = Side("proxy", "GET", f"{proxy_base}/{session_id}", proxy_headers, None)
                direct = Side("direct", "GET", f"{direct_base}/{session_id}", direct_headers, None)
            else:
                proxy = Side("proxy", "POST", f"{proxy_base}/new", proxy_headers, {})
                direct = Side("direct", "POST", f"{direct_base}/new", direct_headers, None)
            sessions = [requests.Session() for _ in range(concurrency)]
            try:
                for side in (proxy, direct):
                    side.run(WARMUP, concurrency, sessions, record=False)
                quarter = counts[operation] // 4
                cpu_before = process_cpu_seconds(env.daphne.pid)
                for side in (proxy, direct, direct, proxy):
                    side.run(quarter, concurrency, sessions)
                    env.check_alive()
                daphne_cpu = process_cpu_seconds(env.daphne.pid) - cpu_before
            finally:
                for http in sessions:
                    http.close()
            p, d = proxy.summary(), direct.summary()
            case = {
                "operation": "GET sessions/<sid>" if operation == "state" else "POST sessions/new",
                "concurrency": concurrency,
                "proxy": p,
                "direct": d,
                "daphne_cpu_ms_per_proxy_request": round(daphne_cpu * 1000 / p["requests"], 3),
                "added_p50_ms": round(p["p50_ms"] - d["p50_ms"], 3),
                "ratio": {
                    "p50": round(p["p50_ms"] / d["p50_ms"], 2),
                    "p99": round(p["p99_ms"] / d["p99_ms"], 2),
                    "req_per_s": round(p["req_per_s"] / d["req_per_s"], 2),
                },
            }
            cases.append(case)
            print(f"  done: {case['operation']} c={concurrency}", flush=True)
    return cases


def measure_floors(env: Environment, seed_data: dict, quick: bool) -> list[dict]:
    """What every request to Daphne costs before the proxy's own work, at concurrency 1: the
    same room's `ice-servers` without a token (Daphne, the middleware and DRF: 401, no SQL),
    then with the doctor's JWT (+ the user's and the room's SQL: room_access_get, as the proxy
    does). The proxy's own share is its request's figure minus the second."""
    import requests

    url = f"{env.base_url}/api/rooms/{seed_data['room']}/ice-servers"
    token = {"Authorization": f"Bearer {seed_data['doctor']}"}
    count = (QUICK_REQUESTS if quick else REQUESTS)["state"] // 2
    floors = []
    for name, headers, status in (
        ("GET ice-servers, no token (401)", {}, 401),
        ("GET ice-servers (JWT, room access)", token, 200),
    ):
        side = Side(name, "GET", url, headers, None, expected_status=status)
        sessions = [requests.Session()]
        try:
            side.run(WARMUP, 1, sessions, record=False)
            cpu_before = process_cpu_seconds(env.daphne.pid)
            side.run(count, 1, sessions)
            daphne_cpu = process_cpu_seconds(env.daphne.pid) - cpu_before
        finally:
            sessions[0].close()
        summary = side.summary()
        summary["daphne_cpu_ms_per_request"] = round(daphne_cpu * 1000 / summary["requests"], 3)
        floors.append({"request": name, **summary})
    return floors


def print_table(cases: list[dict]) -> None:
    header = (
        f"{'operation':<20}{'conc':>5}  {'side':<7}{'requests':>9}{'errors':>7}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}"
    )
    print(header)
    print("-" * len(header))
    for case in cases:
        for side in ("proxy", "direct"):
            s = case[side]
            print(
                f"{case['operation']:<20}{case['concurrency']:>5}  {side:<7}{s['requests']:>9}"
                f"{s['errors']:>7}{s['p50_ms']:>9.2f}{s['p99_ms']:>9.2f}{s['req_per_s']:>9.1f}"
            )
        r = case["ratio"]
        print(
            f"{'':<20}{'':>5}  {'ratio':<7}{'proxy/direct':>16}{r['p50']:>9.2f}{r['p99']:>9.2f}"
            f"{r['req_per_s']:>9.2f}   (+{case['added_p50_ms']:.2f} ms p50; Daphne "
            f"{case['daphne_cpu_ms_per_proxy_request']:.2f} CPU ms/proxy req)"
        )
    print()


def print_floors(floors: list[dict], cases: list[dict]) -> None:
    print("Below the proxy (concurrency 1):")
    for floor in floors:
        print(
            f"  {floor['request']:<38}{floor['requests']:>6} req{floor['errors']:>4} err"
            f"{floor['p50_ms']:>9.2f} ms p50{floor['daphne_cpu_ms_per_request']:>9.2f} CPU ms/req"
        )
    state = next(c for c in cases if c["concurrency"] == 1 and c["operation"].startswith("GET"))
    routed = floors[-1]
    print(
        f"  GET sessions/<sid> (proxy) beyond that: "
        f"{state['proxy']['p50_ms'] - routed['p50_ms']:+.2f} ms p50, "
        f"{state['daphne_cpu_ms_per_proxy_request'] - routed['daphne_cpu_ms_per_request']:+.2f}"
        " CPU ms/req (the room-state checks and the request to the SFU)"
    )
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few requests; a smoke run")
    options = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    load_start = load_average()
    print(f"load average at start: {load_start} ({os.cpu_count()} CPUs)", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-calls-proxy-"))
    env = Environment(workdir)
    doctor = None
    started = datetime.now(UTC)
    try:
        env.start_sfu()
        seed_data = env.prepare_database()
        env.start_daphne()
        doctor = Doctor(env.port, seed_data["room"], seed_data["doctor"])
        doctor.start()
        if not doctor.admitted.wait(30) or doctor.error:
            raise BenchError(f"the doctor did not join as admitted: {doctor.error}")
        print(f"SFU {env.sfu.base_url}, Daphne {env.base_url}, room {seed_data['room']}")
        cases = measure(env, seed_data, options.quick)
        floors = measure_floors(env, seed_data, options.quick)
        if doctor.error:
            raise BenchError(f"doctor WebSocket: {doctor.error}")
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 2
    finally:
        if doctor is not None:
            doctor.stopping.set()
            doctor.join(10)
        env.stop()
        log_text = env.daphne.log() if env.daphne else ""
        shutil.rmtree(workdir, ignore_errors=True)
    load_end = load_average()

    print()
    print_table(cases)
    print_floors(floors, cases)
    print(f"load average at start: {load_start}, at end: {load_end}")
    errors = sum(case[side]["errors"] for case in cases for side in ("proxy", "direct"))
    errors += sum(floor["errors"] for floor in floors)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"calls_proxy-{started:%Y%m%d-%H%M%S}.json"
    out.write_text(
        json.dumps(
            {
                "started": started.isoformat(),
                "quick": options.quick,
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "load_average_start": load_start,
                    "load_average_end": load_end,
                },
                "server_log_tracebacks": log_text.count("Traceback"),
                "cases": cases,
                "floors": floors,
            },
            indent=2,
        )
    )
    print(f"results: {out.relative_to(REPO)}")
    if errors:
        print(f"{errors} measured requests failed", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
