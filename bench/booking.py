"""Benchmark of the booking REST API against a plain-Django baseline, in one run.

    .venv/bin/python bench/booking.py [--quick]

Creates a PostgreSQL database of its own, migrates and seeds it, serves the app with Daphne
(DEBUG off, Redis channel layer, as deployed) and measures at concurrency 1 and 32:

  slot listing  GET  /api/doctors/<id>/slots/?date=...   vs  GET  /bench/doctors/<id>/slots/
  booking       POST /api/appointments/ (JWT)             vs  POST /bench/appointments/

printing requests/s, p50 and p99 latency and the API/baseline ratios, and saving them to
bench/results/booking-<timestamp>.json. The database and the server are removed at the end,
whatever happens. See bench/README.md.
"""

import argparse
import json
import math
import os
import platform
import random
import secrets
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import requests
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python bench/booking.py`
    sys.path.insert(0, str(REPO))

from tests.live_server import LiveServer, manage, production_environment, run_python  # noqa: E402

RESULTS = REPO / "bench" / "results"
ADMIN_DATABASE_URL = os.environ.get(
    "BENCH_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
DATABASE_NAME = os.environ.get("BENCH_DATABASE_NAME", "clinic_meet_bench")
CONCURRENCY = (1, 32)
# Requests measured per (endpoint, implementation, concurrency), and warm-up requests before.
# Sized so a full run stays under ~5 minutes on a 2-core machine (where c=32 saturates it).
MODES = {
    "full": {"requests": {1: 300, 32: 800}, "warmup": {1: 30, 32: 64}},
    "quick": {"requests": {1: 20, 32: 128}, "warmup": {1: 5, 32: 32}},
}
REQUEST_TIMEOUT_SECONDS = 30
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- Database and server ------------------------------------------------------------------------


def admin_execute(statement: sql.Composable) -> None:
    with psycopg.connect(ADMIN_DATABASE_URL, autocommit=True) as connection:
        connection.execute(statement)


def database_url() -> str:
    head, _, _ = ADMIN_DATABASE_URL.rpartition("/")
    return f"{head}/{DATABASE_NAME}"


def create_database() -> None:
    name = sql.Identifier(DATABASE_NAME)
    admin_execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
    admin_execute(sql.SQL("CREATE DATABASE {}").format(name))


def drop_database() -> None:
    admin_execute(
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE_NAME))
    )


def server_environment(*, pool: bool) -> dict[str, str]:
    """The app as deployed, plus the baseline's URLs; `pool=False` drops the PostgreSQL
    connection pool (bench/settings.py)."""
    return production_environment(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DATABASE_URL=database_url(),
        REDIS_URL=REDIS_URL,
        ALLOWED_HOSTS="127.0.0.1",
        BENCH_DB_POOL="true" if pool else "false",
        JWT_ACCESS_MINUTES="60",  # tokens are fetched once, before the timed runs
        PYTHONPATH=str(REPO),
    )


def database_settings_label(database: dict) -> str:
    """How the server connects to PostgreSQL, from its settings (bench/seed.py reads them)."""
    pool = database["pool"]
    connections = (
        f"psycopg pool {pool['min_size']}-{pool['max_size']}"
        if pool
        else "no pool (a connection per request)"
    )
    return f"CONN_MAX_AGE={database['conn_max_age']}, {connections}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def system_busy(seconds: float = 2.0) -> float:
    """The share of all CPUs busy over a short sample (Linux /proc/stat), before we add load."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values) - idle, sum(values)

    busy_before, total_before = sample()
    time.sleep(seconds)
    busy_after, total_after = sample()
    return (busy_after - busy_before) / max(1, total_after - total_before)


def database_connections() -> int:
    with psycopg.connect(ADMIN_DATABASE_URL, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
    return row[0]


# --- Load generation ----------------------------------------------------------------------------


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0
    server_cpu_seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def add(self, other: "Run") -> None:
        self.latencies += other.latencies
        self.wall_seconds += other.wall_seconds
        self.server_cpu_seconds += other.server_cpu_seconds
        self.client_cpu_seconds += other.client_cpu_seconds
        self.errors += other.errors


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def run_load(send, payloads: list, concurrency: int, sessions, server_pid: int) -> Run:
    """Send one request per payload from `concurrency` threads (worker w takes every
    concurrency-th payload from w), all starting together; time each and the whole."""
    latencies: list[float] = [0.0] * len(payloads)
    errors: list[str] = []
    start_line = threading.Barrier(concurrency + 1)

    def worker(number: int) -> None:
        session = sessions[number]
        start_line.wait()
        for index in range(number, len(payloads), concurrency):
            began = time.perf_counter()
            try:
                response = send(session, number, payloads[index])
                if not 200 <= response.status_code < 300:
                    errors.append(f"{response.status_code} {' '.join(response.text.split())[:160]}")
            except requests.RequestException as error:
                errors.append(f"{type(error).__name__}: {error}"[:200])
            latencies[index] = time.perf_counter() - began

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    server_cpu, client_cpu = cpu_seconds(server_pid), time.process_time()
    start_line.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    return Run(
        latencies=latencies,
        wall_seconds=wall,
        server_cpu_seconds=cpu_seconds(server_pid) - server_cpu,
        client_cpu_seconds=time.process_time() - client_cpu,
        errors=errors,
    )


def summary(run: Run) -> dict:
    count = len(run.latencies)
    return {
        "requests": count,
        "errors": len(run.errors),
        "error_samples": run.errors[:5],
        "requests_per_second": count / run.wall_seconds,
        "p50_ms": percentile(run.latencies, 0.50) * 1000,
        "p99_ms": percentile(run.latencies, 0.99) * 1000,
        "mean_ms": sum(run.latencies) / count * 1000,
        "server_cpu_ms_per_request": run.server_cpu_seconds / count * 1000,
        "client_cpu_ms_per_request": run.client_cpu_seconds / count * 1000,
    }


class Benchmark:
    def __init__(self, base: str, plan: dict, tokens: list[str], server_pid: int, mode: dict):
        self.base = base
        self.plan = plan
        self.server_pid = server_pid
        self.mode = mode
        self.auth = [{"Authorization": f"Bearer {token}"} for token in tokens]
        self.patient_ids = [patient["id"] for patient in plan["patients"]]
        self.sessions = [requests.Session() for _ in range(max(CONCURRENCY))]
        # Each booking takes the next unused slot of its side, so no two bookings collide.
        self.unused_slots = {
            "api": iter(plan["api_slots"]),
            "baseline": iter(plan["baseline_slots"]),
        }
        self.listings = [
            (doctor, day) for day in plan["list_dates"] for doctor in plan["list_doctors"]
        ]
        random.Random(7).shuffle(self.listings)  # noqa: S311 (an arbitrary but fixed order)

    # One request of each kind. `worker` picks the worker's JWT and patient.
    def slots_api(self, session, worker, payload):
        doctor, day = payload
        return session.get(
            f"{self.base}/api/doctors/{doctor}/slots/",
            params={"date": day},
            headers=self.auth[worker],
            timeout=REQUEST_TIMEOUT_SECONDS,
        )

    def slots_baseline(self, session, worker, payload):
        doctor, day = payload
        return session.get(
            f"{self.base}/bench/doctors/{doctor}/slots/",
            params={"date": day},
            timeout=REQUEST_TIMEOUT_SECONDS,
        )

    def booking_api(self, session, worker, payload):
        doctor, start = payload
        return session.post(
            f"{self.base}/api/appointments/",
            json={"doctor": doctor, "start": start, "reason": "Benchmark visit"},
            headers=self.auth[worker],
            timeout=REQUEST_TIMEOUT_SECONDS,
        )

    def booking_baseline(self, session, worker, payload):
        doctor, start = payload
        return session.post(
            f"{self.base}/bench/appointments/",
            json={
                "doctor": doctor,
                "patient": self.patient_ids[worker],
                "start": start,
                "reason": "Benchmark visit",
            },
            timeout=REQUEST_TIMEOUT_SECONDS,
        )

    def payloads(self, endpoint: str, side: str, count: int) -> list:
        if endpoint == "slots":
            return [self.listings[n % len(self.listings)] for n in range(count)]
        return [next(self.unused_slots[side]) for _ in range(count)]

    def case(self, endpoint: str, concurrency: int) -> dict:
        senders = {
            "api": getattr(self, f"{endpoint}_api"),
            "baseline": getattr(self, f"{endpoint}_baseline"),
        }
        for side, send in senders.items():
            warmup = self.payloads(endpoint, side, self.mode["warmup"][concurrency])
            run = run_load(send, warmup, concurrency, self.sessions, self.server_pid)
            if run.errors:
                raise RuntimeError(f"warm-up of {endpoint} {side} failed: {run.errors[:3]}")
        # Halves in the order API, baseline, baseline, API, so slow drift (a growing table,
        # a background vacuum) weighs on both sides alike.
        half = self.mode["requests"][concurrency] // 2
        runs = {"api": Run(), "baseline": Run()}
        for side in ("api", "baseline", "baseline", "api"):
            payloads = self.payloads(endpoint, side, half)
            runs[side].add(
                run_load(senders[side], payloads, concurrency, self.sessions, self.server_pid)
            )
        result = {
            "endpoint": endpoint,
            "concurrency": concurrency,
            "api": summary(runs["api"]),
            "baseline": summary(runs["baseline"]),
            "database_connections_after": database_connections(),
        }
        api, baseline = result["api"], result["baseline"]
        result["ratio"] = {
            "requests_per_second": api["requests_per_second"] / baseline["requests_per_second"],
            "p50": api["p50_ms"] / baseline["p50_ms"],
            "server_cpu_per_request": (
                api["server_cpu_ms_per_request"] / baseline["server_cpu_ms_per_request"]
                if baseline["server_cpu_ms_per_request"]
                else None
            ),
        }
        return result


def obtain_tokens(base: str, patients: list[dict], password: str) -> list[str]:
    def token(patient: dict) -> str:
        response = requests.post(
            f"{base}/api/auth/token/",
            json={"username": patient["username"], "password": password},
            timeout=REQUEST_TIMEOUT_SECONDS,
        )
        response.raise_for_status()
        return response.json()["access"]

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(token, patients))


# --- Report -------------------------------------------------------------------------------------

LABELS = {"slots": "slot listing", "booking": "booking"}


def table(results: dict) -> str:
    lines = [
        f"Booking API vs plain-Django baseline: Daphne + PostgreSQL {results['postgresql']}, "
        f"{results['cpus']} CPUs, {database_settings_label(results['database'])}, "
        f"{results['mode']} mode, {results['started_at']}",
        f"CPU busy before start (other work): {results['cpu_busy_before_start']:.0%}; "
        f"load average at end: {results['load_average_at_end'][0]}",
        "",
        f"{'case':<13} {'impl':<9} {'conc':>4} {'requests':>8} {'errors':>6} {'req/s':>8} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'srv CPU':>8} {'cli CPU':>8}",
    ]
    for case in results["cases"]:
        for side in ("api", "baseline"):
            row = case[side]
            lines.append(
                f"{LABELS[case['endpoint']]:<13} {side:<9} {case['concurrency']:>4} "
                f"{row['requests']:>8} {row['errors']:>6} {row['requests_per_second']:>8.1f} "
                f"{row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
                f"{row['server_cpu_ms_per_request']:>8.2f} {row['client_cpu_ms_per_request']:>8.2f}"
            )
    lines += [
        "",
        "srv CPU / cli CPU: CPU ms per request of the Daphne process / of this load generator.",
        "",
        "Ratios API / baseline (req/s below 1 and p50 above 1: the API is slower)",
        f"{'case':<13} {'conc':>4} {'req/s':>8} {'p50':>8} {'srv CPU':>8}",
    ]
    for case in results["cases"]:
        ratio = case["ratio"]
        cpu = ratio["server_cpu_per_request"]
        lines.append(
            f"{LABELS[case['endpoint']]:<13} {case['concurrency']:>4} "
            f"{ratio['requests_per_second']:>8.2f} {ratio['p50']:>8.2f} "
            f"{(f'{cpu:.2f}' if cpu else 'n/a'):>8}"
        )
    probe = results["sql_per_request"]
    lines += [
        "",
        "SQL statements per request (API / baseline): "
        + ", ".join(
            f"{LABELS[name]} {counts['api']} / {counts['baseline']}"
            for name, counts in probe.items()
        ),
    ]
    lines.append(
        "PostgreSQL connections open after each case: "
        + ", ".join(
            f"{LABELS[case['endpoint']]} c={case['concurrency']}: "
            f"{case['database_connections_after']}"
            for case in results["cases"]
        )
    )
    errors = [
        (case, side)
        for case in results["cases"]
        for side in ("api", "baseline")
        if case[side]["errors"]
    ]
    for case, side in errors:
        lines.append(
            f"ERRORS {case['endpoint']} {side} c={case['concurrency']}: "
            f"{case[side]['error_samples']}"
        )
    return "\n".join(lines)


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# --- Main ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--no-pool",
        action="store_true",
        help="serve without the app's PostgreSQL connection pool: every request opens a "
        "connection of its own (CONN_MAX_AGE is 0 either way, see README)",
    )
    args = parser.parse_args()
    mode_name = "quick" if args.quick else "full"
    mode = MODES[mode_name]
    started = time.monotonic()
    started_at = datetime.now(UTC)
    bookings_per_side = sum(mode["warmup"][c] + mode["requests"][c] // 2 * 2 for c in CONCURRENCY)
    password = secrets.token_urlsafe(16)
    env = server_environment(pool=not args.no_pool)
    daphne = None
    log_path = RESULTS / f"daphne-{started_at:%Y%m%d-%H%M%S}.log"
    RESULTS.mkdir(parents=True, exist_ok=True)
    busy = system_busy()
    if busy > 0.15:
        log(
            f"WARNING: the machine is already {busy:.0%} busy (load average "
            f"{os.getloadavg()[0]:.1f}): other work will skew the figures"
        )
    try:
        log(f"creating database {DATABASE_NAME}")
        create_database()
        manage(env, "migrate", "--noinput")
        log("seeding through the service layer")
        spec = {
            "patients": max(CONCURRENCY),
            "password": password,
            "list_doctors": 4,
            "list_dates": 4,
            "held_every": 6,  # one slot in six of each listed day is booked
            "booking_doctors": 16,
            "bookings_per_side": bookings_per_side,
            "booking_first_day_offset": 10,
        }
        plan = json.loads(run_python(env, "-m", "bench.seed", json.dumps(spec)))
        log(f"starting daphne (log: {log_path.relative_to(REPO)})")
        daphne = LiveServer(env, log_path, name="daphne").start()
        base = daphne.http_url
        tokens = obtain_tokens(base, plan["patients"], password)
        benchmark = Benchmark(base, plan, tokens, daphne.pid, mode)
        cases = []
        for endpoint in ("slots", "booking"):
            for concurrency in CONCURRENCY:
                log(f"{LABELS[endpoint]}, concurrency {concurrency}")
                cases.append(benchmark.case(endpoint, concurrency))
        with psycopg.connect(ADMIN_DATABASE_URL) as connection:
            postgresql = connection.execute("SHOW server_version").fetchone()[0]
        results = {
            "benchmark": "booking",
            "mode": mode_name,
            "database": plan["database"],
            "started_at": f"{started_at:%Y-%m-%d %H:%M:%S} UTC",
            "commit": git_commit(),
            "python": platform.python_version(),
            "postgresql": postgresql,
            "cpus": os.cpu_count(),
            "cpu_busy_before_start": round(busy, 3),
            "load_average_at_end": [round(load, 2) for load in os.getloadavg()],
            "seed": {key: value for key, value in spec.items() if key != "password"}
            | {"held_appointments": plan["held_appointments"]},
            "sql_per_request": {
                name: {side: probe[side]["queries"] for side in ("api", "baseline")}
                for name, probe in plan["probe"].items()
            },
            "sql": plan["probe"],
            "cases": cases,
        }
        results["duration_seconds"] = round(time.monotonic() - started, 1)
        print(table(results))
        path = RESULTS / f"booking-{started_at:%Y%m%d-%H%M%S}.json"
        path.write_text(json.dumps(results, indent=2) + "\n")
        failed = any(case[side]["errors"] for case in cases for side in ("api", "baseline"))
        print(f"\nResults: {path.relative_to(REPO)}; run took {results['duration_seconds']} s")
        return 1 if failed else 0
    finally:
        if daphne is not None:
            daphne.stop()
        drop_database()
        log(f"cleaned up; total {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
